// Balance: 8 shards, one worker 10x slower than the rest, 100,000 messages produced at a steady
// rate below the workers' total capacity. Per strategy: the slow shard's peak backlog and the
// max/mean ratio of the shards' peak backlogs. RoundRobin, run in the same process between the
// others, is the baseline. Distributor, workers and producer run in this process on real veda
// queues (not durable: balance is about routing, not fsync).
//   node bench/balance.ts [--messages N] [--rate MSG_PER_S]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { defaultConfig, type DistributorConfig, type Strategy } from '../src/config/index.ts';
import { BatchJournal, Distributor } from '../src/distributor/index.ts';
import { silentLogger } from '../src/observability/index.ts';
import { createVedaBackend } from '../src/queue/index.ts';
import { runWorker } from '../src/worker/index.ts';
import { arg, printTable, writeResults, type Row } from './lib.ts';

const MESSAGES = arg('messages', 100_000);
const RATE = arg('rate', 8_000);
const SHARDS = 8;
const SLOW = 7;
const FAST_MS_PER_MSG = 0.5;
const SLOW_MS_PER_MSG = FAST_MS_PER_MSG * 10;
const STRATEGIES: Strategy[] = ['ZeroLoadFirst', 'RoundRobin', 'LeastLoaded', 'Random', 'KeyHash'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  strategy: Strategy;
  peaks: number[];
  slowPeak: number;
  maxOverMean: number;
  seconds: number;
}

async function runStrategy(strategy: Strategy): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-bench-balance-'));
  const base = defaultConfig();
  const config: DistributorConfig = {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      basePath: join(dir, 'main'),
      minWorkers: SHARDS,
      durable: false,
      strategy,
    },
    worker: { ...base.worker, workerBasePath: join(dir, 'shards'), sleepEmptySec: 0.01 },
  };
  const open = (path: string) =>
    createVedaBackend({ basePath: path, durable: false, logger: silentLogger });
  const main = open(config.dispatcher.basePath);
  const shards = open(config.worker.workerBasePath);
  const probe = open(config.worker.workerBasePath);
  const writer = await main.openWriter(config.dispatcher.mainQueueName);
  await writer.append([Buffer.from('warm-up')]);
  await writer.flush();
  const distributor = await Distributor.open({
    config,
    mainBackend: main,
    shardBackend: shards,
    registry: new Registry(),
    log: silentLogger,
    journal: BatchJournal.forQueue(
      config.dispatcher.basePath,
      config.dispatcher.mainQueueName,
      'bench',
    ),
    idleMinMs: 1,
  });
  const stop = new AbortController();
  const loop = distributor.run(stop.signal);
  const queue = (i: number) => `${config.worker.subQueuePrefix}-${i}`;
  const workers = Array.from({ length: SHARDS }, (_, i) => {
    const cost = i === SLOW ? SLOW_MS_PER_MSG : FAST_MS_PER_MSG;
    let pending = 0;
    return runWorker({
      backend: open(config.worker.workerBasePath),
      queue: queue(i),
      consumer: config.dispatcher.consumerName,
      handler: () => void pending++,
      // The work of a batch: its messages' cost, paid before the commit.
      beforeCommit: async () => {
        await sleep(pending * cost);
        pending = 0;
      },
      sleepEmptySec: 0.005,
      batchSize: 10,
      signal: stop.signal,
    });
  });
  const peaks = new Array<number>(SHARDS).fill(0);
  let producing = true;
  const sampler = (async () => {
    while (producing) {
      for (let i = 0; i < SHARDS; i++) {
        const backlog = await probe
          .backlog(queue(i), config.dispatcher.consumerName)
          .catch(() => 0);
        peaks[i] = Math.max(peaks[i]!, backlog);
      }
      await sleep(20);
    }
  })();
  const started = performance.now();
  const per = 100;
  for (let sent = 0; sent < MESSAGES; sent += per) {
    const due = started + (sent / RATE) * 1000;
    if (due > performance.now()) await sleep(due - performance.now());
    await writer.append(Array.from({ length: per }, (_, j) => Buffer.from(`msg-${sent + j}`)));
    await writer.flush();
  }
  const seconds = (performance.now() - started) / 1000;
  producing = false;
  await sampler;
  stop.abort();
  await loop;
  await Promise.all(workers);
  await writer.close();
  await distributor.close();
  for (const b of [main, shards, probe]) await b.close();
  await rm(dir, { recursive: true, force: true });
  const mean = peaks.reduce((a, b) => a + b, 0) / SHARDS;
  return {
    strategy,
    peaks,
    slowPeak: peaks[SLOW]!,
    maxOverMean: Math.max(...peaks) / Math.max(1, mean),
    seconds,
  };
}

const outcomes: Outcome[] = [];
for (const strategy of STRATEGIES) {
  const o = await runStrategy(strategy);
  outcomes.push(o);
  console.log(
    `${strategy}: slow shard peak ${o.slowPeak}, peaks ${o.peaks.join(' ')}, max/mean ${o.maxOverMean.toFixed(2)} (${o.seconds.toFixed(1)} s)`,
  );
}
const batch = defaultConfig().dispatcher.batchSize;
const rr = outcomes.find((o) => o.strategy === 'RoundRobin')!;
const rows: Row[] = outcomes.flatMap((o) => {
  const bounded = o.strategy === 'ZeroLoadFirst' || o.strategy === 'LeastLoaded';
  return [
    {
      metric: `${o.strategy} slow-shard peak backlog`,
      unit: 'msgs, lower is better',
      ours: o.slowPeak,
      peer: rr.slowPeak,
      peerName: 'RoundRobin',
      ratio: o.slowPeak / Math.max(1, rr.slowPeak),
      target: bounded ? `<= ${2 * batch} (2 x batch)` : '-',
      pass: bounded ? o.slowPeak <= 2 * batch : true,
    },
    {
      metric: `${o.strategy} max/mean peak backlog`,
      unit: 'ratio',
      ours: o.maxOverMean,
      peer: rr.maxOverMean,
      peerName: 'RoundRobin',
      ratio: o.maxOverMean / rr.maxOverMean,
      target: '-',
      pass: true,
    },
  ];
});
printTable(
  `balance: ${SHARDS} shards, shard ${SLOW} 10x slower, ${MESSAGES} messages at ${RATE}/s, batch ${batch}`,
  rows,
);
writeResults('balance', { messages: MESSAGES, rate: RATE, shards: SHARDS, outcomes, rows });
