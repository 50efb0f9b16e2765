// Memory under backlog: the distributor's resident memory (peak VmHWM) with a 10,000,000-message
// backlog against a 10,000-message one, both in the same run, measured after it has moved the
// first 10,000 messages and then for a few seconds more. Target: ratio <= 1.2 (memory bounded
// by the batch, not by the backlog).
//   node bench/memory.ts [--big N] [--small N]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, renderIni } from '../src/config/index.ts';
import { silentLogger } from '../src/observability/index.ts';
import { createVedaBackend } from '../src/queue/index.ts';
import {
  arg,
  distributorProcess,
  printTable,
  rssOf,
  waitFor,
  writeResults,
  type Row,
} from './lib.ts';

const BIG = arg('big', 10_000_000);
const SMALL = arg('small', 10_000);
const MOVED = 10_000;
const OBSERVE_MS = 5_000;
const MAIN = 'individuals-flow';

async function peakRss(backlog: number): Promise<{ peak: number; rss: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-bench-mem-'));
  try {
    const mainDir = join(dir, 'main');
    const backend = createVedaBackend({ basePath: mainDir, durable: false, logger: silentLogger });
    const writer = await backend.openWriter(MAIN);
    for (let i = 0; i < backlog; i += 100_000) {
      const n = Math.min(100_000, backlog - i);
      await writer.append(
        Array.from({ length: n }, (_, j) => Buffer.from(`m-${String(i + j).padStart(12, '0')}`)),
      );
      await writer.flush();
    }
    await writer.close();
    const base = defaultConfig();
    const ini = join(dir, 'bench.ini');
    await writeFile(
      ini,
      renderIni({
        ...base,
        dispatcher: { ...base.dispatcher, basePath: mainDir, minWorkers: 8, durable: true },
        worker: { ...base.worker, workerBasePath: join(dir, 'shards') },
      }),
    );
    const p = distributorProcess(ini);
    const pid = p.child.pid!;
    let peak = 0;
    let rss = 0;
    const sample = () => {
      const s = rssOf(pid);
      peak = Math.max(peak, s.peak);
      rss = Math.max(rss, s.rss);
    };
    await waitFor(async () => {
      sample();
      return (
        backlog - (await backend.backlog(MAIN, base.dispatcher.consumerName)) >=
        Math.min(MOVED, backlog)
      );
    }, 50);
    const until = Date.now() + OBSERVE_MS;
    await waitFor(() => (sample(), Date.now() > until), 50);
    p.child.kill('SIGTERM');
    await p.exited;
    await backend.close();
    return { peak, rss };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const small = await peakRss(SMALL);
const big = await peakRss(BIG);
const mib = (b: number) => b / 2 ** 20;
console.log(
  `backlog ${SMALL}: peak RSS ${mib(small.peak).toFixed(1)} MiB; backlog ${BIG}: peak RSS ${mib(big.peak).toFixed(1)} MiB`,
);
const ratio = big.peak / small.peak;
const rows: Row[] = [
  {
    metric: `peak RSS, backlog ${BIG.toLocaleString('en-US')} vs ${SMALL.toLocaleString('en-US')}`,
    unit: 'MiB',
    ours: mib(big.peak),
    peer: mib(small.peak),
    peerName: 'small backlog',
    ratio,
    target: '<= 1.2',
    pass: ratio <= 1.2,
  },
];
printTable('memory under backlog (distributor process, veda, 8 shards, durable)', rows);
writeResults('memory', {
  big: BIG,
  small: SMALL,
  moved: MOVED,
  observeMs: OBSERVE_MS,
  bytes: { small, big },
  rows,
});
