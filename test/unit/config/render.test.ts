import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigKeyError,
  defaultConfig,
  defaultNatsConfig,
  parseIni,
  quoteArgv,
  renderIni,
  type DistributorConfig,
  type PoolConfig,
} from '../../../src/config/index.ts';

const DEFAULT_FILE = join(import.meta.dirname, '../../../config/veda-queue-shard-distributor.ini');

const natsKeyHash: DistributorConfig = {
  dispatcher: {
    basePath: '/var/lib/veda/queue',
    mainQueueName: 'individuals-flow',
    minWorkers: 4,
    drainingShards: [6, 4, 5],
    consumerName: 'sd.prod_1',
    backend: 'nats',
    strategy: 'KeyHash',
    keyField: 'Nats-Key',
    batchSize: 1,
    metricsPort: 0,
    durable: false,
    stuckAfterSec: 0.25,
  },
  worker: {
    workerBasePath: 'C:\\queue\\dir',
    subQueuePrefix: 'p.x_y',
    sleepEmptySec: 0,
    workerModule: quoteArgv(['/opt/my worker/run', "--flag=it's"]),
    // A literal ${X} for the worker: {{X}} keeps the braces from reading as a placeholder.
    workerArgsTemplate: '--env ${{NOT_SUBSTITUTED}} --tag {{src}} {src} --json \'{"a": 1}\'',
  },
  nats: {
    ...defaultNatsConfig('nats://a:4222, nats://b:4222'),
    credentialsFile: '/run/secrets/nats.creds',
    tlsCaFile: '/run/tls/ca.crt',
    tlsCertFile: '/run/tls/tls.crt',
    tlsKeyFile: '/run/tls/tls.key',
  },
  pools: [],
};

function withBasePath(basePath: string): DistributorConfig {
  const base = defaultConfig();
  return { ...base, dispatcher: { ...base.dispatcher, basePath } };
}

// Seeded, so a failure names a string that can be reproduced.
function trickyStrings(count: number): string[] {
  const alphabet = [...'ab /=;#"\'\\${}[]:-_.\t', '${X}', '$${', '\n', ' ; ', '"x"', "'y'", 'ü'];
  let state = 42;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state;
  };
  return Array.from({ length: count }, () => {
    const length = 1 + (next() % 12);
    return Array.from({ length }, () => alphabet[next() % alphabet.length]).join('');
  }).filter((text) => text.trim() !== '');
}

describe('renderIni', () => {
  it('round-trips the defaults', () => {
    expect(parseIni(renderIni(defaultConfig()), { env: {} })).toStrictEqual(defaultConfig());
  });

  it('round-trips a config that sets every key, including [nats] and draining shards', () => {
    const env = { NOT_SUBSTITUTED: 'oops' };
    expect(parseIni(renderIni(natsKeyHash), { env })).toStrictEqual(natsKeyHash);
  });

  it.each([
    ' leading and trailing ',
    '"quoted"',
    "'single'",
    '[not a section]',
    'a=b',
    'semi;colon#hash',
    'back\\slash\\;',
    'line\nbreak',
    '${HOME}',
    'true',
    '123',
  ])('round-trips the value %j exactly', (basePath) => {
    const config = withBasePath(basePath);
    expect(parseIni(renderIni(config), { env: { HOME: '/root' } })).toStrictEqual(config);
  });

  it('round-trips a few hundred generated awkward values', () => {
    for (const basePath of trickyStrings(300)) {
      const config = withBasePath(basePath);
      expect(
        parseIni(renderIni(config), { env: { X: 'x' } }).dispatcher.basePath,
        JSON.stringify(basePath),
      ).toBe(basePath);
    }
  });

  it('writes draining shards as a comma list so the shard set survives', () => {
    const base = defaultConfig();
    const text = renderIni({ ...base, dispatcher: { ...base.dispatcher, drainingShards: [4, 5] } });
    expect(text).toContain('\nmin_workers = 4\n');
    expect(text).toContain('\ndraining_shards = 4,5\n');
  });

  it('leaves no trailing whitespace', () => {
    expect(renderIni(natsKeyHash)).not.toMatch(/[ \t]$/m);
    expect(renderIni(defaultConfig())).not.toMatch(/[ \t]$/m);
  });

  it('refuses to write a config the distributor would reject', () => {
    const base = defaultConfig();
    expect(() =>
      renderIni({ ...base, dispatcher: { ...base.dispatcher, minWorkers: -1 } }),
    ).toThrow('[dispatcher] min_workers = -1 is negative');
    expect(() => renderIni({ ...base, nats: defaultNatsConfig('nats://n:4222') })).toThrow(
      '[nats] is set but [dispatcher] backend = veda',
    );
    expect(() =>
      renderIni({ ...base, dispatcher: { ...base.dispatcher, backend: 'nats' } }),
    ).toThrow('[nats] url is missing');
  });

  it('refuses an invalid pool rather than dropping it', () => {
    const pool: PoolConfig = {
      name: 'gpu',
      match: {},
      minWorkers: 1,
      drainingShards: [],
      strategy: 'ZeroLoadFirst',
      subQueuePrefix: 'gpu-shard',
      workerModule: 'gpu-worker',
      workerArgsTemplate: '',
      backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
    };
    expect(() => renderIni({ ...defaultConfig(), pools: [pool] })).toThrow(ConfigKeyError);
    expect(() => renderIni({ ...defaultConfig(), pools: [pool] })).toThrow(
      '[pool.gpu] has no match rule',
    );
    expect(
      parseIni(renderIni({ ...defaultConfig(), pools: [{ ...pool, match: { minBytes: 1 } }] }), {
        env: {},
      }).pools,
    ).toStrictEqual([{ ...pool, match: { minBytes: 1 } }]);
  });
});

describe('config/veda-queue-shard-distributor.ini', () => {
  const text = readFileSync(DEFAULT_FILE, 'utf8');

  it('is what renderIni(defaultConfig()) writes', () => {
    expect(text).toBe(renderIni(defaultConfig()));
  });

  it('parses to defaultConfig()', () => {
    expect(parseIni(text, { file: DEFAULT_FILE, env: {} })).toStrictEqual(defaultConfig());
  });
});
