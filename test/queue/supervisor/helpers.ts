import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import {
  defaultConfig,
  quoteArgv,
  type DistributorConfig,
  type PoolConfig,
} from '../../../src/config/index.ts';
import { createLogger, type Logger } from '../../../src/observability/index.ts';

export const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'workers');
export const SLEEPER = join(FIXTURES, 'sleeper.mjs');

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface Captured {
  readonly logs: LogLine[];
  readonly log: Logger;
  readonly registry: Registry;
  find(msg: string, fields?: Record<string, unknown>): LogLine[];
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export function capture(): Captured {
  const logs: LogLine[] = [];
  const log = createLogger(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  );
  const registry = new Registry();
  return {
    logs,
    log,
    registry,
    find: (msg, fields = {}) =>
      logs.filter((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v)),
    async metric(name, labels = {}) {
      const metric = registry.getSingleMetric(name);
      if (!metric) return 0;
      const { values } = await metric.get();
      const match = values.find((v) =>
        Object.entries(labels).every(([k, want]) => v.labels[k] === want),
      );
      return match?.value ?? 0;
    },
  };
}

/** A config whose workers are `node FIXTURE` plus `args` (a template, placeholders allowed). */
export function sleeperConfig(
  minWorkers: number,
  args: string,
  dispatcher: Partial<DistributorConfig['dispatcher']> = {},
  script: string = SLEEPER,
): DistributorConfig {
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: { ...base.dispatcher, minWorkers, ...dispatcher },
    worker: {
      ...base.worker,
      subQueuePrefix: 'q',
      workerModule: quoteArgv([process.execPath, script]),
      workerArgsTemplate: args,
    },
  };
}

/** `[pool.NAME]` whose workers are `node FIXTURE` plus `args`, its shard queues `q-NAME-<i>`. */
export function sleeperPool(
  name: string,
  minWorkers: number,
  args: string,
  extra: Partial<PoolConfig> = {},
  script: string = SLEEPER,
): PoolConfig {
  return {
    name,
    match: { minBytes: 1024 },
    minWorkers,
    drainingShards: [],
    strategy: 'RoundRobin',
    subQueuePrefix: `q-${name}`,
    workerModule: quoteArgv([process.execPath, script]),
    workerArgsTemplate: args,
    backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
    ...extra,
  };
}

/** True when `pid` is gone or at least not a zombie waiting to be reaped. */
export async function reaped(pid: number): Promise<boolean> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status);
  } catch {
    return true;
  }
}

/** True while `pid` exists and is not a zombie. */
export async function alive(pid: number): Promise<boolean> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}
