import { execFileSync } from 'node:child_process';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderIni } from '../../src/config/index.ts';
import { statVedaQueue } from '../../src/queue/index.ts';
import { bench, PREFIX, type Bench } from '../distributor/helpers.ts';
import { eventually } from '../harness/eventually.ts';
import { audit, cliProcess, exitOrTimeout, uniqueIds, type CliProcess } from './helpers.ts';

const SHARDS = 4;
const MESSAGES = 20_000;
/** What the filler leaves free on the 2 MiB tmpfs: room for a few batches, then ENOSPC. */
const LEFT_FREE = 160 * 1024;

const mounts: string[] = [];

/** A real file system that runs out of space: a 2 MiB tmpfs (needs root, as in CI here). */
function mountSmallTmpfs(target: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', target], { stdio: 'pipe' });
  mounts.push(target);
}

async function fill(target: string): Promise<string> {
  const file = join(target, 'filler');
  const fs = await statfs(target);
  await writeFile(file, Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - LEFT_FREE)));
  return file;
}

function unmountAll(): void {
  for (const target of mounts.splice(0).reverse()) {
    try {
      execFileSync('umount', [target], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', target], { stdio: 'pipe' });
    }
  }
}
afterAll(() => unmountAll());

async function pushedToShards(b: Bench): Promise<number> {
  let total = 0;
  for (let i = 0; i < SHARDS; i++) {
    const stat = await statVedaQueue(b.shardDir, `${PREFIX}-${i}`);
    expect(stat.parts.filter((p) => p.problem !== undefined)).toEqual([]);
    total += stat.pushed;
  }
  return total;
}

describe('a full disk under the shard queues', () => {
  let b: Bench;
  let p: CliProcess | undefined;
  afterAll(async () => {
    await p?.kill9();
    unmountAll();
    await b?.cleanup();
  });

  it('logs a clear error, keeps the main position, writes no corrupt record and resumes by itself when space returns', async () => {
    b = await bench({ batchSize: 100, minWorkers: SHARDS, durable: true });
    await mkdir(b.shardDir, { recursive: true });
    mountSmallTmpfs(b.shardDir);
    const filler = await fill(b.shardDir);
    const ids = uniqueIds(MESSAGES, 'disk');
    await b.produce(ids);
    const ini = join(b.dir, 'disk-full.ini');
    await writeFile(ini, renderIni(b.config));
    p = cliProcess(['distributor', '--config', ini, '--metrics-port', '0']);
    const proc = p;

    // The write fails with ENOSPC and the log says which queue, why, and that it retries.
    const failures = () => proc.output().match(/shard write failed; retrying/g)?.length ?? 0;
    await eventually(() => expect(failures()).toBeGreaterThanOrEqual(1), { timeoutMs: 60_000 });
    const failure = proc
      .output()
      .split('\n')
      .find((l) => l.includes('shard write failed'));
    console.log(`chaos disk-full: first error logged: ${failure?.slice(0, 400)}`);
    expect(failure).toMatch(/SD_ERR_QUEUE_FULL/);
    expect(failure).toMatch(/ENOSPC|no space/i);
    expect(failure).toMatch(new RegExp(`"queue":"${PREFIX}-\\d"`));

    // Stalled, not skipping: the main position stays where the last durable batch put it,
    // while the distributor keeps retrying (and failing) underneath.
    const stalledBacklog = await b.committedMain();
    const seen = failures();
    await eventually(() => expect(failures()).toBeGreaterThanOrEqual(seen + 2), {
      timeoutMs: 60_000,
    });
    expect(await b.committedMain()).toBe(stalledBacklog);
    expect(stalledBacklog).toBeGreaterThan(0);
    expect(stalledBacklog).toBeLessThan(MESSAGES);
    const committed = MESSAGES - stalledBacklog;
    const pushed = await pushedToShards(b);
    console.log(
      `chaos disk-full: stalled with ${committed} committed from the main queue, ${pushed} durable ` +
        `in shard queues, ${stalledBacklog} waiting, ${failures()} failed attempts so far`,
    );
    // What is durable in the shards is the committed messages plus at most the batch in flight.
    expect(pushed).toBeGreaterThanOrEqual(committed);
    expect(pushed - committed).toBeLessThanOrEqual(b.config.dispatcher.batchSize);
    expect(proc.child.exitCode).toBeNull();

    // Space returns: the same process carries on by itself.
    await rm(filler);
    await eventually(async () => expect(await b.committedMain()).toBe(0), { timeoutMs: 120_000 });
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    const result = audit((await b.shardContents(SHARDS)).values(), ids);
    console.log(
      `chaos disk-full: after space returned: ids ${result.expected}, records ${result.records}, ` +
        `lost ${result.lost.length}, duplicated ${result.duplicated.length}, unexpected ${result.unexpected.length}`,
    );
    expect(result).toMatchObject({ records: MESSAGES, lost: [], duplicated: [], unexpected: [] });
    // No record was set aside as corrupt: nothing torn was left behind by the failed writes.
    expect(proc.output()).not.toMatch(/corrupt record set aside/);
    expect(await pushedToShards(b)).toBe(MESSAGES);
  });
});

describe('a full disk under the main queue (its pop file and the batch journal)', () => {
  let b: Bench;
  let p: CliProcess | undefined;
  afterAll(async () => {
    await p?.kill9();
    unmountAll();
    await b?.cleanup();
  });

  it('keeps retrying with a clear error instead of exiting, and finishes every message once when space returns', async () => {
    b = await bench({ batchSize: 100, minWorkers: SHARDS, durable: true });
    await mkdir(b.mainDir, { recursive: true });
    mountSmallTmpfs(b.mainDir);
    const ids = uniqueIds(2_000, 'main-full');
    await b.produce(ids);
    const filler = join(b.mainDir, 'filler');
    const fs = await statfs(b.mainDir);
    // Not a byte left: the consumer's pop file and the journal cannot be written.
    await writeFile(filler, Buffer.alloc(fs.bavail * fs.bsize)).catch(() => undefined);
    const ini = join(b.dir, 'main-full.ini');
    await writeFile(ini, renderIni(b.config));
    p = cliProcess(['distributor', '--config', ini, '--metrics-port', '0']);
    const proc = p;

    const retrying = () =>
      /cannot open the main queue yet; retrying|queue operation failed; retrying/.test(
        proc.output(),
      );
    await eventually(() => expect(retrying()).toBe(true), { timeoutMs: 60_000 });
    expect(proc.output()).toMatch(/SD_ERR_QUEUE_FULL|no space left on the device/);
    expect(proc.child.exitCode).toBeNull();
    expect(await b.committedMain()).toBe(ids.length);

    await rm(filler);
    await eventually(async () => expect(await b.committedMain()).toBe(0), { timeoutMs: 120_000 });
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    const result = audit((await b.shardContents(SHARDS)).values(), ids);
    expect(result).toMatchObject({ records: ids.length, lost: [], duplicated: [], unexpected: [] });
  });
});

describe('a stop while the shard disk is full', () => {
  let b: Bench;
  const procs: CliProcess[] = [];
  afterAll(async () => {
    for (const proc of procs) await proc.kill9();
    unmountAll();
    await b?.cleanup();
  });

  /** A distributor on the config, once it says its shard write is failing. */
  async function failingDistributor(ini: string): Promise<CliProcess> {
    const proc = cliProcess(['distributor', '--config', ini, '--metrics-port', '0']);
    procs.push(proc);
    await eventually(() => expect(proc.output()).toMatch(/shard write failed; retrying/), {
      timeoutMs: 60_000,
    });
    return proc;
  }

  it('stops at once, also while finishing a journalled batch at start, and loses nothing', async () => {
    b = await bench({ batchSize: 100, minWorkers: SHARDS, durable: true });
    await mkdir(b.shardDir, { recursive: true });
    mountSmallTmpfs(b.shardDir);
    const filler = await fill(b.shardDir);
    const ids = uniqueIds(5_000, 'stop');
    await b.produce(ids);
    const ini = join(b.dir, 'stop-full.ini');
    await writeFile(ini, renderIni(b.config));

    // Stopped while a batch's shard write retries: the batch stays in the journal.
    const first = await failingDistributor(ini);
    first.child.kill('SIGTERM');
    expect((await exitOrTimeout(first, 15_000))?.code).toBe(0);

    // Started again on the still full disk, it finishes that batch first, and fails the same
    // way. Before, that recovery could not be stopped: only SIGKILL ended it.
    const second = await failingDistributor(ini);
    expect(second.output()).not.toMatch(/finished a batch interrupted by a crash/);
    second.child.kill('SIGTERM');
    const stopped = await exitOrTimeout(second, 15_000);
    expect(stopped?.code).toBe(0);
    expect(second.output()).toMatch(
      /stopped before the interrupted batch was finished; the next start finishes it/,
    );

    await rm(filler);
    const third = cliProcess(['distributor', '--config', ini, '--metrics-port', '0']);
    procs.push(third);
    await eventually(async () => expect(await b.committedMain()).toBe(0), { timeoutMs: 120_000 });
    expect(third.output()).toMatch(/finished a batch interrupted by a crash/);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
    const result = audit((await b.shardContents(SHARDS)).values(), ids);
    expect(result).toMatchObject({ records: ids.length, lost: [], duplicated: [], unexpected: [] });
  });
});
