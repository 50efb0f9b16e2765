import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DistributorConfig } from '../../src/config/index.ts';
import { watchConfig } from '../../src/distributor/index.ts';
import { createLogger } from '../../src/observability/index.ts';
import { eventually } from '../harness/eventually.ts';
import type { LogLine } from '../queue/helpers.ts';

const POLL_MS = 10;
const SETTLE_MS = 150;

const ini = (minWorkers: number) =>
  `[dispatcher]\nbase_path = /queues/main\nmain_queue_name = orders\nmin_workers = ${minWorkers}\n`;

describe('watchConfig', () => {
  let dir: string;
  let file: string;
  let stop: () => void = () => {};
  const applied: DistributorConfig[] = [];
  const logs: LogLine[] = [];
  const log = createLogger(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  );
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-config-watch-'));
    file = join(dir, 'distributor.ini');
    await writeFile(file, ini(2));
    applied.length = 0;
    logs.length = 0;
    stop = watchConfig(file, {}, log, (config) => void applied.push(config), {
      intervalMs: POLL_MS,
      settleMs: SETTLE_MS,
    });
  });
  afterEach(async () => {
    stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies an edit made before the watch began, against the text the running config was read from', async () => {
    stop();
    await writeFile(file, ini(5));
    stop = watchConfig(file, {}, log, (config) => void applied.push(config), {
      intervalMs: POLL_MS,
      settleMs: SETTLE_MS,
      baseline: ini(2),
    });
    await eventually(() => expect(applied.map((c) => c.dispatcher.minWorkers)).toEqual([5]));
  });

  it('applies an edit once its text has settled', async () => {
    await writeFile(file, ini(6));
    await eventually(() => expect(applied.map((c) => c.dispatcher.minWorkers)).toEqual([6]));
  });

  it('never applies a file caught half-written in place: only the finished text', async () => {
    // An in-place rewrite seen by the poller part-way: emptied, then the first lines (which
    // parse, with min_workers at its default of 4), then the rest.
    const full = ini(3);
    await writeFile(file, '');
    await sleep(POLL_MS * 5);
    await writeFile(file, full.slice(0, full.indexOf('min_workers')));
    await sleep(POLL_MS * 5);
    await writeFile(file, full);

    await eventually(() => expect(applied.map((c) => c.dispatcher.minWorkers)).toEqual([3]));
    await sleep(SETTLE_MS * 3);
    expect(applied.map((c) => c.dispatcher.minWorkers)).toEqual([3]);
    expect(applied[0]?.dispatcher.mainQueueName).toBe('orders');
  });

  it('keeps the running config when the file is emptied, and applies the next real edit', async () => {
    await writeFile(file, '');
    await eventually(() =>
      expect(logs.map((l) => l.msg)).toContain('config file is empty; keeping the running config'),
    );
    expect(applied).toEqual([]);

    await writeFile(file, ini(5));
    await eventually(() => expect(applied.map((c) => c.dispatcher.minWorkers)).toEqual([5]));
  });
});
