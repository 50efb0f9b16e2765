import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  defaultNatsConfig,
  renderIni,
  type DistributorConfig,
} from '../../src/config/index.ts';
import { PROTOCOL_STEPS } from '../../src/distributor/index.ts';
import { createNatsBackend, type QueueBackend, type QueueConsumer } from '../../src/queue/index.ts';
import { bench, MAIN, type Bench } from '../distributor/helpers.ts';
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
  type Exit,
} from './helpers.ts';

// The sizes (200,000 ids, 50 kills) are the default; SD_CHAOS_FULL=1 adds more kills.
const MESSAGES = 200_000;
const KILLS = FULL ? 150 : 50;
const BATCH = 100;
const SHARDS = 8;
/** A first part of the ids is there before the first start; a producer appends the rest between kills. */
const UP_FRONT = MESSAGES / 2;

/** What the kill loop needs from a backend. */
interface Subject {
  readonly name: string;
  readonly iniFile: string;
  produce(ids: readonly string[]): Promise<void>;
  mainBacklog(): Promise<number>;
  /** Every id in every shard queue, read from the start by a fresh consumer. */
  shardContents(): Promise<string[][]>;
}

interface Report {
  seed: number;
  kills: number;
  failpointKills: number;
  timedKills: number;
  recoveredBatches: number;
  /** Kills after which the main queue still had messages to move. */
  killsWhileFlowing: number;
}

function distributor(iniFile: string, env: Record<string, string> = {}) {
  return cliProcess(['distributor', '--config', iniFile, '--metrics-port', '0'], env);
}

/**
 * Starts the distributor KILLS times and kills it -9 each time, at a moment the seeded PRNG
 * picks: half of the runs at a random protocol step of a random batch (SD_FAILPOINT), the other
 * half at a random time — during start-up and recovery, or while batches flow. Then one run
 * drains the main queue and stops with SIGTERM.
 */
async function killLoop(subject: Subject, ids: readonly string[]): Promise<Report> {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  console.log(`chaos ${subject.name}: seed ${seed} (SD_CHAOS_SEED=${seed} replays the kill plan)`);
  await subject.produce(ids.slice(0, UP_FRONT));
  const rest = ids.slice(UP_FRONT);
  const chunk = Math.ceil(rest.length / KILLS);
  const report: Report = {
    seed,
    kills: 0,
    failpointKills: 0,
    timedKills: 0,
    recoveredBatches: 0,
    killsWhileFlowing: 0,
  };
  const outputs: string[] = [];
  for (let round = 0; round < KILLS; round++) {
    const failpoint =
      random() < 0.5
        ? `${PROTOCOL_STEPS[between(random, 0, PROTOCOL_STEPS.length - 1)]}:${between(random, 1, 40)}`
        : undefined;
    const duringStartup = random() < 0.25;
    const delay = duringStartup ? between(random, 0, 1500) : between(random, 0, 800);
    const p = distributor(subject.iniFile, failpoint ? { SD_FAILPOINT: failpoint } : {});
    let exit: Exit | undefined;
    if (!duringStartup) {
      // Wait until it moves messages, so the kill lands in the loop rather than in Node's start-up.
      const started = await eventually(
        () => {
          if (/distributor started/.test(p.output())) return true;
          if (p.child.exitCode !== null || p.child.signalCode !== null) return false;
          throw new Error('not started yet');
        },
        { timeoutMs: 60_000, intervalMs: 20, description: 'the distributor to start' },
      );
      if (!started) exit = await p.exited;
    }
    exit ??= await exitOrTimeout(p, delay);
    const killedItself = exit !== undefined;
    exit ??= await p.kill9();
    outputs.push(exit.output);
    // Whatever happened, the process died by SIGKILL: it never gave up on its own.
    if (exit.signal !== 'SIGKILL') {
      throw new Error(
        `round ${round} (seed ${seed}, failpoint ${failpoint ?? 'none'}): the distributor exited ` +
          `with code ${exit.code} instead of being killed:\n${exit.output.slice(-3000)}`,
      );
    }
    report.kills++;
    if ((await subject.mainBacklog()) > 0) report.killsWhileFlowing++;
    if (killedItself && failpoint) report.failpointKills++;
    else report.timedKills++;
    const next = rest.slice(round * chunk, (round + 1) * chunk);
    if (next.length > 0) await subject.produce(next);
  }
  const survivor = distributor(subject.iniFile);
  await eventually(async () => expect(await subject.mainBacklog()).toBe(0), {
    timeoutMs: 600_000,
    intervalMs: 500,
    description: `the main backlog of ${subject.name} to reach 0`,
  });
  survivor.child.kill('SIGTERM');
  const last = await survivor.exited;
  expect(last.code).toBe(0);
  outputs.push(last.output);
  report.recoveredBatches = outputs
    .map((o) => o.match(/finished a batch interrupted by a crash/g)?.length ?? 0)
    .reduce((a, b) => a + b, 0);
  return report;
}

function printReport(name: string, report: Report, result: ReturnType<typeof audit>): void {
  console.log(
    `chaos ${name}: ${report.kills} kill -9 (${report.failpointKills} at a protocol step, ${report.timedKills} at a random time, ${report.killsWhileFlowing} with messages still to move; seed ${report.seed}), ` +
      (name === 'veda'
        ? `${report.recoveredBatches} interrupted batches finished from the journal on restart; `
        : 'replayed publishes dropped by their Nats-Msg-Id; ') +
      `ids produced ${result.expected}, records in shard queues ${result.records}, ` +
      `distinct ${result.distinct}, lost ${result.lost.length}, duplicated ${result.duplicated.length}, ` +
      `unexpected ${result.unexpected.length}`,
  );
}

describe('kill -9 of the distributor at random points, veda backend', () => {
  let b: Bench;
  afterEach(async () => b?.cleanup());

  it(`puts each of ${MESSAGES} ids in exactly one shard queue exactly once through ${KILLS} kills`, async () => {
    b = await bench({ batchSize: BATCH, minWorkers: SHARDS, durable: true });
    const iniFile = join(b.dir, 'veda-queue-shard-distributor.ini');
    await writeFile(iniFile, renderIni(b.config));
    const writer = await b.backend(b.mainDir).openWriter(MAIN);
    const subject: Subject = {
      name: 'veda',
      iniFile,
      async produce(ids) {
        await writer.append(ids.map((id) => Buffer.from(id)));
        await writer.flush();
      },
      mainBacklog: () => b.committedMain(),
      async shardContents() {
        return [...(await b.shardContents(SHARDS)).values()];
      },
    };
    const ids = uniqueIds(MESSAGES, 'v');
    const report = await killLoop(subject, ids);
    await writer.close();
    const result = audit(await subject.shardContents(), ids);
    printReport('veda', report, result);
    expect(report.kills).toBe(KILLS);
    expect({ lost: result.lost.slice(0, 10), duplicated: result.duplicated.slice(0, 10) }).toEqual({
      lost: [],
      duplicated: [],
    });
    expect(result).toMatchObject({ records: MESSAGES, distinct: MESSAGES, unexpected: [] });
  });
});

describe('kill -9 of the distributor at random points, nats backend', () => {
  let server: NatsServer;
  let dir: string;
  const backends: QueueBackend[] = [];
  beforeAll(async () => {
    server = await NatsServer.start();
    dir = await mkdtemp(join(tmpdir(), 'sd-chaos-nats-'));
  });
  afterAll(async () => {
    for (const backend of backends) await backend.close().catch(() => undefined);
    await server?.dispose();
    // Unset when the server failed to start: that error is the one to see.
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`puts each of ${MESSAGES} ids in exactly one shard queue exactly once through ${KILLS} kills`, async () => {
    const id = `C${process.pid}`;
    const base = defaultConfig();
    const config: DistributorConfig = {
      ...base,
      dispatcher: {
        ...base.dispatcher,
        backend: 'nats',
        mainQueueName: `main${id}`,
        batchSize: BATCH,
        minWorkers: SHARDS,
        durable: true,
      },
      worker: { ...base.worker, subQueuePrefix: `shard${id}` },
      nats: {
        ...defaultNatsConfig(server.url),
        mainStream: `MAIN_${id}`,
        shardStream: `SHARDS_${id}`,
      },
    };
    const iniFile = join(dir, 'chaos.ini');
    await writeFile(iniFile, renderIni(config));
    const backend = await createNatsBackend({
      ...config.nats!,
      mainQueue: config.dispatcher.mainQueueName,
    });
    backends.push(backend);
    const writer = await backend.openWriter(config.dispatcher.mainQueueName);
    const subject: Subject = {
      name: 'nats',
      iniFile,
      async produce(ids) {
        for (let i = 0; i < ids.length; i += 5_000) {
          await writer.append(ids.slice(i, i + 5_000).map((m) => Buffer.from(m)));
          await writer.flush();
        }
      },
      mainBacklog: () =>
        backend.backlog(config.dispatcher.mainQueueName, config.dispatcher.consumerName),
      async shardContents() {
        const lists: string[][] = [];
        for (let i = 0; i < SHARDS; i++) {
          const consumer = await backend.openConsumer(
            `${config.worker.subQueuePrefix}-${i}`,
            'audit',
          );
          lists.push(await readEverything(consumer));
          await consumer.close();
        }
        return lists;
      },
    };
    const ids = uniqueIds(MESSAGES, 'n');
    const report = await killLoop(subject, ids);
    await writer.close();
    const result = audit(await subject.shardContents(), ids);
    printReport('nats', report, result);
    expect(report.kills).toBe(KILLS);
    expect({ lost: result.lost.slice(0, 10), duplicated: result.duplicated.slice(0, 10) }).toEqual({
      lost: [],
      duplicated: [],
    });
    expect(result).toMatchObject({ records: MESSAGES, distinct: MESSAGES, unexpected: [] });
  });
});

async function readEverything(consumer: QueueConsumer): Promise<string[]> {
  const list: string[] = [];
  for (;;) {
    const batch = await consumer.read(1000);
    if (batch.messages.length === 0) return list;
    list.push(...batch.messages.map((m) => m.data.toString()));
    // A JetStream consumer stops delivering past its max_ack_pending: acknowledge as we go.
    await consumer.commit(batch.next);
  }
}
