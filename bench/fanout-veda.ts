// Fan-out throughput, veda backend: 1,000,000 messages of 256 bytes to 8 shards, durable (one
// fsync per batch), default batch size. Peers in the same run, interleaved with ours:
// `nats bench` JetStream async publish of the same count and size to a file-storage stream,
// and the ceiling (one file, the same bytes, one fdatasync per batch).
//   node bench/fanout-veda.ts [--messages N] [--rounds N] [--cpu-prof]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, renderIni } from '../src/config/index.ts';
import { silentLogger } from '../src/observability/index.ts';
import { createVedaBackend } from '../src/queue/index.ts';
import { NatsServer } from '../test/harness/nats-server.ts';
import { natsBenchPublish } from './nats-bench.ts';
import {
  arg,
  distributorProcess,
  median,
  printTable,
  REPO_ROOT,
  run,
  waitFor,
  writeResults,
  type Row,
} from './lib.ts';

const MESSAGES = arg('messages', 1_000_000);
const ROUNDS = arg('rounds', 1);
const SIZE = 256;
const SHARDS = 8;
const HEADER = 25; // a veda record's header: the ceiling writes the same bytes per message
const MAIN = 'individuals-flow';
const cpuProf = process.argv.includes('--cpu-prof');

async function ours(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-bench-veda-'));
  try {
    const mainDir = join(dir, 'main');
    const backend = createVedaBackend({ basePath: mainDir, durable: false, logger: silentLogger });
    const writer = await backend.openWriter(MAIN);
    const payload = Buffer.alloc(SIZE, 0x62);
    for (let i = 0; i < MESSAGES; i += 10_000) {
      const chunk = [];
      for (let j = i; j < Math.min(MESSAGES, i + 10_000); j++) {
        const m = Buffer.from(payload);
        m.write(String(j).padStart(10, '0'));
        chunk.push(m);
      }
      await writer.append(chunk);
      await writer.flush();
    }
    await writer.close();
    const base = defaultConfig();
    const ini = join(dir, 'bench.ini');
    await writeFile(
      ini,
      renderIni({
        ...base,
        dispatcher: { ...base.dispatcher, basePath: mainDir, minWorkers: SHARDS, durable: true },
        worker: { ...base.worker, workerBasePath: join(dir, 'shards') },
      }),
    );
    const profDir = join(REPO_ROOT, 'bench', 'results');
    const p = distributorProcess(ini, cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
    await waitFor(() => p.output().includes('distributor started'), 20);
    const started = performance.now();
    await waitFor(
      async () => (await backend.backlog(MAIN, base.dispatcher.consumerName)) === 0,
      50,
    );
    const seconds = (performance.now() - started) / 1000;
    p.child.kill('SIGTERM');
    await p.exited;
    await backend.close();
    return MESSAGES / seconds;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function ceiling(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-bench-ceiling-'));
  try {
    const batch = defaultConfig().dispatcher.batchSize;
    const p = run(process.execPath, [
      join(REPO_ROOT, 'bench', 'peers', 'ceiling-writer.ts'),
      join(dir, 'out'),
      String(MESSAGES),
      String(SIZE + HEADER),
      String(batch),
    ]);
    const exit = await p.exited;
    if (exit.code !== 0) throw new Error(`ceiling writer failed: ${p.output()}`);
    const { seconds } = JSON.parse(p.output()) as { seconds: number };
    return MESSAGES / seconds;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const server = await NatsServer.start();
const samples = { ours: [] as number[], nats: [] as number[], ceiling: [] as number[] };
try {
  for (let round = 1; round <= ROUNDS; round++) {
    samples.ours.push(await ours());
    samples.nats.push((await natsBenchPublish(server.url, MESSAGES, SIZE)).msgsPerSec);
    samples.ceiling.push(await ceiling());
    console.log(
      `round ${round}: ours ${Math.round(samples.ours.at(-1)!)} msg/s, nats ${Math.round(samples.nats.at(-1)!)} msg/s, ceiling ${Math.round(samples.ceiling.at(-1)!)} msg/s`,
    );
  }
} finally {
  await server.dispose();
}
const o = median(samples.ours);
const n = median(samples.nats);
const c = median(samples.ceiling);
const mb = (rate: number) => (rate * SIZE) / 1e6;
const rows: Row[] = [
  {
    metric: 'fan-out vs nats bench js pub',
    unit: 'msg/s',
    ours: o,
    peer: n,
    peerName: 'nats',
    ratio: o / n,
    target: '>= 1.0',
    pass: o / n >= 1.0,
  },
  {
    metric: 'fan-out vs ceiling',
    unit: 'msg/s',
    ours: o,
    peer: c,
    peerName: 'ceiling',
    ratio: o / c,
    target: '>= 0.5',
    pass: o / c >= 0.5,
  },
  {
    metric: 'fan-out payload',
    unit: 'MB/s',
    ours: mb(o),
    peer: mb(n),
    peerName: 'nats',
    ratio: o / n,
    target: '-',
    pass: true,
  },
];
printTable(
  `fan-out, veda backend: ${MESSAGES} x ${SIZE} B, ${SHARDS} shards, durable, ${ROUNDS} round(s)`,
  rows,
);
writeResults('fanout-veda', {
  messages: MESSAGES,
  size: SIZE,
  shards: SHARDS,
  rounds: ROUNDS,
  samples,
  rows,
});
