import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { findOrphanWorkers } from '../../../src/supervisor/index.ts';
import { supervisorId } from '../../../src/supervisor/orphans.ts';

const BASE = `/tmp/sd-orphans-${process.pid}`;
const started: ChildProcess[] = [];
const grandchildren: number[] = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
  for (const pid of grandchildren.splice(0)) process.kill(pid, 'SIGKILL');
});

/** A process that waits, with the supervisor variables `supervisor` names. */
function workerOf(supervisor: string, base = BASE): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], {
    env: { ...process.env, SD_SUPERVISOR: supervisor, SD_SUPERVISED_BASE: base },
    stdio: 'ignore',
  });
  started.push(child);
  return child.pid!;
}

/** What a worker of `supervisor` starts in turn (it inherits the variables): its pid. */
async function childOfWorkerOf(supervisor: string): Promise<number> {
  const script =
    "const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });" +
    'console.log(c.pid); setInterval(() => {}, 1 << 30);';
  const worker = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, SD_SUPERVISOR: supervisor, SD_SUPERVISED_BASE: BASE },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  started.push(worker);
  const pid = await new Promise<number>((resolve) =>
    worker.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
  );
  grandchildren.push(pid);
  return pid;
}

describe('findOrphanWorkers', () => {
  it('finds the processes of a run that is gone, and never those of a running one', async () => {
    // This test process plays the running `run`: its workers, and what they start, stay.
    const ours = workerOf(supervisorId());
    const oursInTurn = await childOfWorkerOf(supervisorId());
    // A `run` whose pid is gone, and one whose pid a later process took (another start time).
    const gone = workerOf('999999999:12345');
    const [pid] = supervisorId().split(':');
    const reused = workerOf(`${pid}:1`);
    // Another worker base path: not ours to touch, gone or not.
    const elsewhere = workerOf('999999999:12345', `${BASE}-other`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const found = (await findOrphanWorkers(BASE)).map((o) => o.pid).sort();
    expect(found).toEqual([gone, reused].sort());
    expect(found).not.toContain(ours);
    expect(found).not.toContain(oursInTurn);
    expect(found).not.toContain(elsewhere);
  });
});
