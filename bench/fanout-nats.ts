// Fan-out throughput, nats backend: the same workload as fanout-veda (1,000,000 x 256 B,
// 8 shards, durable = wait for every publish ack) through JetStream. Peer in the same run:
// `nats bench` JetStream publish of the same messages plus a durable pull consumer reading and
// acknowledging them — the two halves of what the distributor does per message.
//   node bench/fanout-nats.ts [--messages N] [--rounds N] [--cpu-prof]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, defaultNatsConfig, renderIni } from '../src/config/index.ts';
import { createNatsBackend } from '../src/queue/index.ts';
import { NatsServer } from '../test/harness/nats-server.ts';
import { natsBenchConsume, natsBenchPublish } from './nats-bench.ts';
import {
  arg,
  distributorProcess,
  median,
  printTable,
  REPO_ROOT,
  waitFor,
  writeResults,
  type Row,
} from './lib.ts';

const MESSAGES = arg('messages', 1_000_000);
const ROUNDS = arg('rounds', 1);
const SIZE = 256;
const SHARDS = 8;
const cpuProf = process.argv.includes('--cpu-prof');

async function ours(server: NatsServer, round: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-bench-nats-'));
  const base = defaultConfig();
  const config = {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      backend: 'nats' as const,
      mainQueueName: 'main',
      minWorkers: SHARDS,
      durable: true,
    },
    worker: { ...base.worker, subQueuePrefix: 'shard' },
    nats: {
      ...defaultNatsConfig(server.url),
      mainStream: `BENCH_MAIN_${round}`,
      shardStream: `BENCH_SHARDS_${round}`,
    },
  };
  const backend = await createNatsBackend({ ...config.nats, mainQueue: 'main' });
  try {
    const writer = await backend.openWriter('main');
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
    const ini = join(dir, 'bench.ini');
    await writeFile(ini, renderIni(config));
    const profDir = join(REPO_ROOT, 'bench', 'results');
    const p = distributorProcess(ini, cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
    await waitFor(() => p.output().includes('distributor started'), 20);
    const started = performance.now();
    await waitFor(
      async () => (await backend.backlog('main', base.dispatcher.consumerName)) === 0,
      100,
    );
    const seconds = (performance.now() - started) / 1000;
    p.child.kill('SIGTERM');
    await p.exited;
    return MESSAGES / seconds;
  } finally {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function peer(server: NatsServer): Promise<{ rate: number; pub: number; sub: number }> {
  const pub = (await natsBenchPublish(server.url, MESSAGES, SIZE)).msgsPerSec;
  const sub = (await natsBenchConsume(server.url, MESSAGES, SIZE)).msgsPerSec;
  // One message through both halves, back to back: the time per message adds up.
  return { rate: 1 / (1 / pub + 1 / sub), pub, sub };
}

const server = await NatsServer.start();
const samples = {
  ours: [] as number[],
  peer: [] as number[],
  peerPub: [] as number[],
  peerSub: [] as number[],
};
try {
  for (let round = 1; round <= ROUNDS; round++) {
    samples.ours.push(await ours(server, round));
    const p = await peer(server);
    samples.peer.push(p.rate);
    samples.peerPub.push(p.pub);
    samples.peerSub.push(p.sub);
    console.log(
      `round ${round}: ours ${Math.round(samples.ours.at(-1)!)} msg/s, nats bench pub ${Math.round(p.pub)} + pull ${Math.round(p.sub)} → ${Math.round(p.rate)} msg/s`,
    );
  }
} finally {
  await server.dispose();
}
const o = median(samples.ours);
const n = median(samples.peer);
const rows: Row[] = [
  {
    metric: 'fan-out vs nats bench pub+pull',
    unit: 'msg/s',
    ours: o,
    peer: n,
    peerName: 'nats',
    ratio: o / n,
    target: '>= 0.5',
    pass: o / n >= 0.5,
  },
  {
    metric: 'fan-out payload',
    unit: 'MB/s',
    ours: (o * SIZE) / 1e6,
    peer: (n * SIZE) / 1e6,
    peerName: 'nats',
    ratio: o / n,
    target: '-',
    pass: true,
  },
];
printTable(
  `fan-out, nats backend: ${MESSAGES} x ${SIZE} B, ${SHARDS} shards, durable, ${ROUNDS} round(s)`,
  rows,
);
writeResults('fanout-nats', {
  messages: MESSAGES,
  size: SIZE,
  shards: SHARDS,
  rounds: ROUNDS,
  samples,
  rows,
});
