import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, natsEnv } from '../../src/config/index.ts';
import { createLogger } from '../../src/observability/index.ts';
import {
  createNatsBackend,
  createVedaBackend,
  decodeEnvelope,
  type QueueBackend,
  type QueueWriter,
} from '../../src/queue/index.ts';
import { deadLetterQueueOf, decodeOutputLine, retryQueueOf } from '../../src/worker/index.ts';
import { eventually } from '../harness/eventually.ts';
import { NatsServer } from '../harness/nats-server.ts';
import {
  audit,
  between,
  chaosSeed,
  cliProcess,
  exitOrTimeout,
  FULL,
  seededRandom,
  uniqueIds,
  type CliProcess,
} from './helpers.ts';

const SHARDS = 4;
const KILLS = FULL ? 100 : 30;
/** Appended to every shard before each round, so the workers always have something in hand. */
const PER_ROUND = 3_000;
const WORKER_BATCH = 50;
const CONSUMER = 'queue-shard-distributor';

let dir: string | undefined;
let backend: QueueBackend | undefined;
const running: CliProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.kill9();
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  backend = undefined;
  dir = undefined;
});

/** Where the shard queues are, and what a worker needs to find them. */
interface Shards {
  readonly backend: QueueBackend;
  readonly queue: (i: number) => string;
  /** The worker's flags that say where the queues are (veda: --base). */
  readonly where: readonly string[];
  readonly env: Record<string, string>;
  /**
   * Every 100th message is poison: the workers reject it (`--reject-matching`) under
   * DeadLetter with two attempts, so it goes through the retry queue to the dead-letter queue.
   */
  readonly poison?: boolean;
}

const POISON = 'poison';
/** Rejects retried quickly, so the run is about kills and not about waiting. */
const DEAD_LETTER_ENV = {
  SD_FAILURE_POLICY: 'DeadLetter',
  SD_MAX_ATTEMPTS: '2',
  SD_RETRY_BACKOFF_SEC: '0.01',
  SD_RETRY_BACKOFF_MAX_SEC: '0.05',
};

/**
 * Keeps SHARDS workers consuming while one at a time is killed with -9 at a random moment,
 * KILLS times, then checks each shard's output: every message at least once, none invented,
 * and no more repeats than the batches in hand at the kills. With poison, each poison message
 * is in its shard's dead-letter queue exactly once and never in the output.
 */
async function killWorkers(name: string, shards: Shards): Promise<void> {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  console.log(`chaos workers ${name}: seed ${seed} (SD_CHAOS_SEED=${seed} replays the kill plan)`);
  const { backend, queue } = shards;
  const outFile = (i: number) => join(dir!, `out-${name}-${i}.txt`);
  const writers: QueueWriter[] = [];
  for (let i = 0; i < SHARDS; i++) writers.push(await backend.openWriter(queue(i)));
  const produced: string[][] = Array.from({ length: SHARDS }, () => []);
  const poisoned: string[][] = Array.from({ length: SHARDS }, () => []);
  const produce = async (round: number) => {
    for (let i = 0; i < SHARDS; i++) {
      const ids = uniqueIds(PER_ROUND, `${name}w${i}r${round}`).map((id, n) =>
        shards.poison && n % 100 === 0 ? `${id}-${POISON}` : id,
      );
      await writers[i]!.append(ids.map((id) => Buffer.from(id)));
      await writers[i]!.flush();
      for (const id of ids) (id.endsWith(POISON) ? poisoned : produced)[i]!.push(id);
    }
  };
  const worker = (i: number) => {
    const p = cliProcess(
      [
        'worker',
        ...shards.where,
        ...['--sub', queue(i), '--src', CONSUMER],
        ...['--sleep-empty', '0.01', '--batch-size', String(WORKER_BATCH), '--out', outFile(i)],
        ...(shards.poison ? ['--reject-matching', POISON] : []),
      ],
      { ...shards.env, ...(shards.poison ? DEAD_LETTER_ENV : {}) },
    );
    running.push(p);
    return p;
  };
  await produce(0);
  const workers = Array.from({ length: SHARDS }, (_, i) => worker(i));
  let kills = 0;
  let killedWithBacklog = 0;
  for (let round = 1; round <= KILLS; round++) {
    await produce(round);
    const victim = between(random, 0, SHARDS - 1);
    const p = workers[victim]!;
    await eventually(() => expect(p.output()).toContain('worker consuming'), {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    // A random moment of its life: reading, writing its output, or committing.
    const early = await exitOrTimeout(p, between(random, 0, 600));
    if (early) throw new Error(`worker ${victim} exited by itself:\n${early.output.slice(-2000)}`);
    const exit = await p.kill9();
    expect(exit.signal).toBe('SIGKILL');
    kills++;
    if ((await backend.backlog(queue(victim), CONSUMER)) > 0) killedWithBacklog++;
    workers[victim] = worker(victim);
  }
  const backlog = async (i: number) =>
    (await backend.backlog(queue(i), CONSUMER)) +
    (shards.poison ? await backend.backlog(retryQueueOf(queue(i)), CONSUMER) : 0);
  for (let i = 0; i < SHARDS; i++) {
    await eventually(async () => expect(await backlog(i)).toBe(0), {
      timeoutMs: 300_000,
      intervalMs: 250,
      description: `shard ${i} (and its retry queue) drained by its worker`,
    });
  }
  // A replacement of a worker whose shard was already empty may still be starting: SIGTERM
  // before its handlers exist would simply end it. Stop each one once it consumes.
  for (const p of workers) {
    await eventually(() => expect(p.output()).toContain('worker consuming'), {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
  }
  for (const p of workers) p.child.kill('SIGTERM');
  for (const p of workers) expect((await p.exited).code).toBe(0);
  for (const w of writers) await w.close();

  let duplicates = 0;
  for (let i = 0; i < SHARDS; i++) {
    const lines = (await readFile(outFile(i), 'utf8')).split('\n').filter((l) => l !== '');
    const result = audit([lines.map((l) => decodeOutputLine(l).toString())], produced[i]!);
    console.log(
      `chaos workers ${name}: shard ${i}: produced ${result.expected}, processed ${result.records} ` +
        `(distinct ${result.distinct}), lost ${result.lost.length}, processed twice ` +
        `${result.duplicated.length}, unexpected ${result.unexpected.length}`,
    );
    expect(result.lost.slice(0, 10)).toEqual([]);
    expect(result.unexpected.slice(0, 10)).toEqual([]);
    duplicates += result.records - result.distinct;
    if (!shards.poison) continue;
    const deadLetters = (await backend.peek(deadLetterQueueOf(queue(i)), 100_000)).map((d) =>
      decodeEnvelope(d).payload.toString(),
    );
    const dead = audit([deadLetters], poisoned[i]!);
    console.log(
      `chaos workers ${name}: shard ${i}: poison ${dead.expected}, dead letters ${dead.records} ` +
        `(distinct ${dead.distinct}), lost ${dead.lost.length}, twice ${dead.duplicated.length}, ` +
        `unexpected ${dead.unexpected.length}`,
    );
    expect({
      lost: dead.lost.slice(0, 10),
      duplicated: dead.duplicated.slice(0, 10),
      unexpected: dead.unexpected.slice(0, 10),
    }).toEqual({ lost: [], duplicated: [], unexpected: [] });
  }
  console.log(
    `chaos workers ${name}: ${kills} kill -9 (${killedWithBacklog} with messages still queued), ` +
      `${duplicates} messages processed twice (at least once: at most the killed batch each time)`,
  );
  // A replacement starts from the last commit, not from the start of the queue: only the
  // batch in hand at each kill can be processed again.
  expect(duplicates).toBeLessThanOrEqual(kills * WORKER_BATCH);
}

describe('kill -9 of workers', () => {
  const vedaShards = async (): Promise<Omit<Shards, 'poison'>> => {
    dir = await mkdtemp(join(tmpdir(), 'sd-chaos-workers-'));
    const base = join(dir, 'queue-workers');
    backend = createVedaBackend({ basePath: base, logger: createLogger({ level: 'silent' }) });
    return {
      backend,
      queue: (i) => `individuals-flow-shard-${i}`,
      where: ['--base', base],
      env: {},
    };
  };

  it('veda: loses nothing a killed worker had not committed, and its replacement resumes from the commit', async () => {
    await killWorkers('veda', await vedaShards());
  });

  it('veda: dead-letters each rejected message exactly once through the kills', async () => {
    await killWorkers('veda-dlq', { ...(await vedaShards()), poison: true });
  });

  describe('nats', () => {
    let server: NatsServer | undefined;
    beforeAll(async () => {
      server = await NatsServer.start();
    });
    afterAll(async () => {
      await server?.dispose();
    });

    let run = 0;
    const natsShards = async (): Promise<Omit<Shards, 'poison'>> => {
      dir = await mkdtemp(join(tmpdir(), 'sd-chaos-workers-nats-'));
      const id = `W${process.pid}x${++run}`;
      const base = defaultConfig();
      // The worker finds its queue only by the SD_NATS_* variables, as the operator sets them.
      const config = {
        ...base,
        dispatcher: { ...base.dispatcher, backend: 'nats' as const, mainQueueName: `main${id}` },
        nats: { url: server!.url, mainStream: `MAIN_${id}`, shardStream: `SHARDS_${id}` },
      };
      backend = await createNatsBackend({ ...config.nats, mainQueue: `main${id}` });
      return {
        backend,
        queue: (i) => `main${id}-shard-${i}`,
        where: [],
        env: natsEnv(config),
      };
    };

    it('loses nothing a killed worker had not committed, and its replacement resumes from the commit', async () => {
      await killWorkers('nats', await natsShards());
    });

    it('dead-letters each rejected message exactly once through the kills', async () => {
      await killWorkers('nats-dlq', { ...(await natsShards()), poison: true });
    });
  });
});
