import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  quoteArgv,
  renderIni,
  type DistributorConfig,
} from '../../src/config/index.ts';
import { createVedaBackend } from '../../src/queue/index.ts';
import { eventually } from '../harness/eventually.ts';
import { REPO_ROOT } from '../harness/tools.ts';
import { countDeliveries, ids } from './helpers.ts';
import { loggedPort } from './process-helpers.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');
// Workers that consume nothing: the shard queues keep their backlog, so a removed shard has
// one to move.
const IDLE_WORKER = join(REPO_ROOT, 'test', 'fixtures', 'workers', 'sleeper.mjs');

let dir: string;
afterEach(async () => rm(dir, { recursive: true, force: true }));

function runConfig(minWorkers: number): DistributorConfig {
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      basePath: join(dir, 'main'),
      minWorkers,
      strategy: 'RoundRobin',
      batchSize: 10,
      metricsPort: 0,
    },
    worker: {
      ...base.worker,
      workerBasePath: join(dir, 'shards'),
      workerModule: quoteArgv([process.execPath, IDLE_WORKER]),
      sleepEmptySec: 0.05,
    },
  };
}

async function shardContents(shards: number): Promise<Map<number, string[]>> {
  const backend = createVedaBackend({ basePath: join(dir, 'shards') });
  const result = new Map<number, string[]>();
  for (let i = 0; i < shards; i++)
    result.set(i, (await backend.peek(`individuals-flow-shard-${i}`, 100_000)).map(String));
  await backend.close();
  return result;
}

describe('run mode', () => {
  it('stops the worker of a shard removed from the INI and moves its backlog to the live shards', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-run-'));
    const file = join(dir, 'veda-queue-shard-distributor.ini');
    await writeFile(file, renderIni(runConfig(3)));
    const main = createVedaBackend({ basePath: join(dir, 'main') });
    const writer = await main.openWriter('individuals-flow');
    const messages = ids(90);
    await writer.append(messages.map((m) => Buffer.from(m)));
    await writer.flush();
    await writer.close();
    await main.close();

    const child = spawn(process.execPath, [CLI, 'run', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    try {
      const port = await loggedPort(() => output);
      const load = async () =>
        (await (await fetch(`http://127.0.0.1:${port}/load`)).json()) as {
          shards: { index: number; backlog: number; state: string }[];
        };
      await eventually(
        async () => expect((await load()).shards.map((s) => s.backlog)).toEqual([30, 30, 30]),
        { timeoutMs: 30_000 },
      );

      await writeFile(file, renderIni(runConfig(2)));
      await eventually(
        async () => {
          const shards = (await load()).shards;
          expect(shards.find((s) => s.index === 2)?.state ?? 'gone').toMatch(/drained|gone/);
          expect(shards.filter((s) => s.index < 2).map((s) => s.backlog)).toEqual([45, 45]);
        },
        { timeoutMs: 30_000 },
      );
      expect(output).toContain('moving their backlog to live shards');
      // Everything in shards 0 and 1, once; shard 2's records were moved, not copied twice.
      const contents = await shardContents(3);
      const live = new Map([...contents].filter(([shard]) => shard < 2));
      expect(countDeliveries(live, messages)).toEqual({
        delivered: 90,
        lost: [],
        duplicated: [],
        unexpected: [],
      });
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
