import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConfigKeyError,
  defaultConfig,
  parseIni,
  poolMovingShards,
  poolShardSet,
  poolSubQueueName,
  renderIni,
  renderPoolWorkerArgv,
  restartKeys,
  withLiveKeys,
  type DistributorConfig,
  type PoolConfig,
} from '../../../src/config/index.ts';

const env = {};
const FILE = 'sd.ini';
const MAX = Number.MAX_SAFE_INTEGER;

// Size tiers (1 MiB–16 MiB, 16 MiB and up) and a pool by message type; the rest stays in the
// default pool.
const TIERS_INI = `[dispatcher]
main_queue_name = flow
min_workers = 4
strategy = LeastLoaded
max_backlog_per_shard = 5000

[worker]
worker_module = default-worker

[pool.large]
# 1 MiB up to (not including) 16 MiB
match_min_bytes = 1048576
match_below_bytes = 16777216
min_workers = 2
draining_shards = 2,3
moving_shards = 3
strategy = KeyHash
key_field = tenant
worker_module = "big worker" --mem 8g
worker_args_template = --sub {sub_queue_name}
max_backlog_per_shard = 100
max_disk_bytes = 10737418240

[pool.huge]
match_min_bytes = 16777216
min_workers = 1

[pool.docs]
match_type = v-s:Document
match_header = tenant = acme=1
match_predicate = v-s:hasClassifier=d:c1
sub_queue_prefix = docs
`;

const LARGE: PoolConfig = {
  name: 'large',
  match: { minBytes: 1_048_576, belowBytes: 16_777_216 },
  minWorkers: 2,
  drainingShards: [2, 3],
  movingShards: [3],
  strategy: 'KeyHash',
  keyField: 'tenant',
  subQueuePrefix: 'flow-shard-large',
  workerModule: '"big worker" --mem 8g',
  workerArgsTemplate: '--sub {sub_queue_name}',
  backpressure: { maxBacklogPerShard: 100, maxDiskBytes: 10_737_418_240 },
};

const defaultArgs = defaultConfig().worker.workerArgsTemplate;

const HUGE: PoolConfig = {
  name: 'huge',
  match: { minBytes: 16_777_216 },
  minWorkers: 1,
  drainingShards: [],
  strategy: 'LeastLoaded',
  subQueuePrefix: 'flow-shard-huge',
  workerModule: 'default-worker',
  workerArgsTemplate: defaultArgs,
  backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
};

const DOCS: PoolConfig = {
  name: 'docs',
  match: {
    messageType: 'v-s:Document',
    header: { name: 'tenant', value: 'acme=1' },
    predicate: { name: 'v-s:hasClassifier', value: 'd:c1' },
  },
  minWorkers: 1,
  drainingShards: [],
  strategy: 'LeastLoaded',
  subQueuePrefix: 'docs',
  workerModule: 'default-worker',
  workerArgsTemplate: defaultArgs,
  backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
};

function thrown(text: string): ConfigError {
  try {
    parseIni(text, { file: FILE, env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`parsed without an error:\n${text}`);
}

function renderThrown(config: DistributorConfig): ConfigError {
  try {
    renderIni(config);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigKeyError);
    return error as ConfigError;
  }
  throw new Error('rendered without an error');
}

function pool(name: string, overrides: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name,
    match: { messageType: name },
    minWorkers: 1,
    drainingShards: [],
    strategy: 'ZeroLoadFirst',
    subQueuePrefix: `individuals-flow-shard-${name}`,
    workerModule: 'worker',
    workerArgsTemplate: '',
    backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
    ...overrides,
  };
}

function withPools(...pools: PoolConfig[]): DistributorConfig {
  return { ...defaultConfig(), pools };
}

describe('parseIni [pool.NAME]', () => {
  it('reads size tiers and a type pool in file order, with the default pool limits', () => {
    const config = parseIni(TIERS_INI, { file: FILE, env });
    expect(config.pools).toStrictEqual([LARGE, HUGE, DOCS]);
    expect(config.backpressure).toStrictEqual({ maxBacklogPerShard: 5000, maxDiskBytes: 0 });
    // The default pool is untouched by the pools.
    expect(config.dispatcher.minWorkers).toBe(4);
    expect(config.worker.subQueuePrefix).toBe('flow-shard');
  });

  it('gives a pool the defaults: one worker, the dispatcher strategy, the [worker] command, <prefix>-<NAME>', () => {
    const config = parseIni(
      '[dispatcher]\nstrategy = RoundRobin\n' +
        '[worker]\nsub_queue_prefix = q\nworker_module = w --x\nworker_args_template = {src}\n' +
        '[pool.small]\nmatch_below_bytes = 1024\n',
      { env },
    );
    expect(config.pools).toStrictEqual([
      {
        name: 'small',
        match: { belowBytes: 1024 },
        minWorkers: 1,
        drainingShards: [],
        strategy: 'RoundRobin',
        subQueuePrefix: 'q-small',
        workerModule: 'w --x',
        workerArgsTemplate: '{src}',
        backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
      },
    ]);
  });

  it('lets a pool use key_field when it inherits strategy = KeyHash', () => {
    const config = parseIni(
      '[dispatcher]\nstrategy = KeyHash\n[pool.k]\nmatch_type = t\nkey_field = tenant\n',
      { env },
    );
    expect(config.pools[0]).toMatchObject({ strategy: 'KeyHash', keyField: 'tenant' });
  });

  it('keeps the order of first appearance when a pool section is split in two', () => {
    const config = parseIni(
      '[pool.b]\nmatch_type = b\n[pool.a]\nmatch_type = a\n[pool.b]\nmin_workers = 3\n',
      { env },
    );
    expect(config.pools.map((p) => [p.name, p.minWorkers])).toEqual([
      ['b', 3],
      ['a', 1],
    ]);
  });

  it('reads section names case-insensitively, as the other sections', () => {
    const config = parseIni('[Pool.Large]\nmatch_min_bytes = 10\n', { env });
    expect(config.pools.map((p) => p.name)).toEqual(['large']);
  });

  it('substitutes ${VAR} in pool keys and treats empty match keys as unset', () => {
    const config = parseIni(
      '[pool.p]\nmatch_type = ${TYPE}\nmatch_min_bytes = ${MIN:-}\nmatch_header =\nmin_workers = ${N:-3}\n',
      { env: { TYPE: 'v-s:Doc' } },
    );
    expect(config.pools[0]?.match).toStrictEqual({ messageType: 'v-s:Doc' });
    expect(config.pools[0]?.minWorkers).toBe(3);
  });

  it('has no pools and no backpressure for a file without them, as before the keys existed', () => {
    const config = parseIni('[dispatcher]\nmin_workers = 2\n', { env });
    expect(config.pools).toStrictEqual([]);
    expect(config).not.toHaveProperty('backpressure');
    expect(parseIni('[dispatcher]\nmax_disk_bytes =\n', { env })).not.toHaveProperty(
      'backpressure',
    );
  });

  it('reads [dispatcher] limits, a missing one of the two being 0 (off)', () => {
    expect(parseIni('[dispatcher]\nmax_disk_bytes = 1073741824\n', { env }).backpressure).toEqual({
      maxBacklogPerShard: 0,
      maxDiskBytes: 1_073_741_824,
    });
  });
});

describe("a pool's own sleep_empty_sec", () => {
  const ini = (pool: string) =>
    '[worker]\nsleep_empty_sec = 0.5\nworker_module = w\n' +
    'worker_args_template = --sub {sub_queue_name} --sleep-empty {sleep_empty_sec}\n' +
    `[pool.slow]\nmatch_type = x\n${pool}`;

  it("fills the pool's {sleep_empty_sec}, and [worker]'s when the pool has none", () => {
    const own = parseIni(ini('sleep_empty_sec = 5\n'), { env });
    expect(own.pools[0]?.sleepEmptySec).toBe(5);
    expect(renderPoolWorkerArgv(own, own.pools[0]!, 1)).toEqual([
      'w',
      ...['--sub', 'individuals-flow-shard-slow-1', '--sleep-empty', '5'],
    ]);
    const inherited = parseIni(ini(''), { env });
    expect(inherited.pools[0]).not.toHaveProperty('sleepEmptySec');
    expect(renderPoolWorkerArgv(inherited, inherited.pools[0]!, 1).at(-1)).toBe('0.5');
  });

  it('round-trips through renderIni', () => {
    const config = parseIni(ini('sleep_empty_sec = 2.5\n'), { env });
    expect(parseIni(renderIni(config), { env })).toStrictEqual(config);
  });

  it('names the key and the fix for a bad value', () => {
    expect(() => parseIni(ini('sleep_empty_sec = soon\n'), { env, file: FILE })).toThrow(
      /sd\.ini:\d+: \[pool\.slow\] sleep_empty_sec = "soon" is not a number/,
    );
    expect(() => parseIni(ini('sleep_empty_sec = 4000\n'), { env, file: FILE })).toThrow(
      /\[pool\.slow\] sleep_empty_sec/,
    );
  });

  it("is the workers' to apply: a change restarts no distributor", () => {
    const current = parseIni(ini('sleep_empty_sec = 5\n'), { env });
    expect(restartKeys(current, parseIni(ini('sleep_empty_sec = 1\n'), { env }))).toEqual([]);
  });
});

describe('parseIni rejects bad pools, naming file:line, [section] key, the value and the fix', () => {
  const cases: readonly (readonly [string, string, string])[] = [
    [
      'a pool without a match key',
      '[dispatcher]\nmin_workers = 2\n\n[pool.gpu]\nmin_workers = 2\n',
      'sd.ini:4: [pool.gpu] has no match rule, so it would take every message from the default pool; ' +
        'add at least one of match_min_bytes, match_below_bytes, match_type, match_header, match_predicate',
    ],
    [
      'a pool name that is not a DNS label',
      '[pool.big_one]\nmatch_type = x\n',
      'sd.ini:1: [pool.big_one] has the pool name "big_one", which is not a DNS label; name the pool with lower-case letters',
    ],
    [
      'a pool name starting with "-"',
      '[pool.-x]\nmatch_type = x\n',
      'sd.ini:1: [pool.-x] has the pool name "-x", which is not a DNS label',
    ],
    [
      'a pool name of 41 characters',
      `[pool.${'a'.repeat(41)}]\nmatch_type = x\n`,
      'which is not a DNS label; name the pool with lower-case letters, digits and "-", starting and ending with a letter or digit, at most 40 characters',
    ],
    [
      'an empty pool name',
      '\n[pool.]\nmatch_type = x\n',
      'sd.ini:2: [pool.] has the pool name "", which is not a DNS label',
    ],
    [
      'the pool name "default"',
      '[pool.default]\nmatch_type = x\n',
      'sd.ini:1: [pool.default] uses the name "default", which is the pool of [dispatcher] and [worker]; give this pool another name',
    ],
    [
      '[pool] without a name',
      '[pool]\nmatch_type = x\n',
      'sd.ini:1: [pool] has no pool name; write it as [pool.NAME], e.g. [pool.large]',
    ],
    [
      'an unknown key',
      '[pool.x]\nmatch_type = t\nmatch_typ = x\n',
      'sd.ini:3: unknown key [pool.x] match_typ (did you mean match_type?); the keys of [pool.x] are match_min_bytes,',
    ],
    [
      'a [dispatcher]-only key in a pool',
      '[pool.x]\nmatch_type = t\nbatch_size = 5\n',
      'sd.ini:3: unknown key [pool.x] batch_size',
    ],
    [
      'negative min_workers',
      '[pool.x]\nmatch_type = t\nmin_workers = -1\n',
      'sd.ini:3: [pool.x] min_workers = -1 is negative; set it to an integer from 0 to 512',
    ],
    [
      'too many workers',
      '[pool.x]\nmatch_type = t\nmin_workers = 513\n',
      'sd.ini:3: [pool.x] min_workers = 513 is too large; set it to an integer from 0 to 512',
    ],
    [
      'min_workers not a number',
      '[pool.x]\nmatch_type = t\nmin_workers = two\n',
      'sd.ini:3: [pool.x] min_workers = "two" is not a whole number; set it to an integer from 0 to 512',
    ],
    [
      'a live shard in draining_shards',
      '[pool.x]\nmatch_type = t\nmin_workers = 2\ndraining_shards = 1,2\n',
      'sd.ini:4: [pool.x] draining_shards = "1,2" includes shard 1, which is live (min_workers = 2); list only shards >= 2',
    ],
    [
      'a moving shard that is not draining',
      '[pool.x]\nmatch_type = t\ndraining_shards = 2\nmoving_shards = 3\n',
      'sd.ini:4: [pool.x] moving_shards = "3" includes shard 3, which is not in draining_shards (2)',
    ],
    [
      'an unknown strategy',
      '[pool.x]\nmatch_type = t\nstrategy = Fastest\n',
      'sd.ini:3: [pool.x] strategy = "Fastest" is not a known strategy; use one of',
    ],
    [
      'key_field without KeyHash',
      '[pool.x]\nmatch_type = t\nstrategy = RoundRobin\nkey_field = tenant\n',
      'sd.ini:4: [pool.x] key_field = "tenant" is used only by strategy KeyHash, but strategy = RoundRobin; remove key_field or set strategy = KeyHash',
    ],
    [
      "the default pool's sub_queue_prefix",
      '[worker]\nsub_queue_prefix = q\n[pool.x]\nmatch_type = t\nsub_queue_prefix = q\n',
      'sd.ini:5: [pool.x] sub_queue_prefix = "q" is also [worker] sub_queue_prefix, so both pools would use the same shard queues',
    ],
    [
      "another pool's sub_queue_prefix",
      '[pool.a]\nmatch_type = a\nsub_queue_prefix = p\n[pool.b]\nmatch_type = b\nsub_queue_prefix = p\n',
      'sd.ini:6: [pool.b] sub_queue_prefix = "p" is also the sub_queue_prefix of [pool.a], so both pools would use the same shard queues (<prefix>-<i>); set another sub_queue_prefix here or there',
    ],
    [
      "another pool's default sub_queue_prefix",
      '[pool.a]\nmatch_type = a\n[pool.b]\nmatch_type = b\nsub_queue_prefix = individuals-flow-shard-a\n',
      'sd.ini:5: [pool.b] sub_queue_prefix = "individuals-flow-shard-a" is also the sub_queue_prefix of [pool.a]',
    ],
    [
      'a sub_queue_prefix that is no queue name',
      '[pool.x]\nmatch_type = t\nsub_queue_prefix = a/b\n',
      'sd.ini:3: [pool.x] sub_queue_prefix = "a/b" is not a valid queue name prefix; use letters, digits',
    ],
    [
      'an empty worker_module',
      '[pool.x]\nmatch_type = t\nworker_module = ""\n',
      'sd.ini:3: [pool.x] worker_module = "" is empty; set it to the worker executable',
    ],
    [
      'an unknown placeholder',
      '[pool.x]\nmatch_type = t\nworker_args_template = --q {queue}\n',
      'sd.ini:3: [pool.x] worker_args_template = "--q {queue}" uses unknown placeholder {queue}; use only',
    ],
    [
      'a negative max_backlog_per_shard',
      '[pool.x]\nmatch_type = t\nmax_backlog_per_shard = -5\n',
      `sd.ini:3: [pool.x] max_backlog_per_shard = -5 is negative; set it to an integer from 0 to ${MAX}`,
    ],
    [
      'a fractional max_disk_bytes',
      '[pool.x]\nmatch_type = t\nmax_disk_bytes = 1.5\n',
      `sd.ini:3: [pool.x] max_disk_bytes = "1.5" is not a whole number; set it to an integer from 0 to ${MAX}`,
    ],
    [
      'a [dispatcher] max_disk_bytes with a unit',
      '[dispatcher]\nmax_disk_bytes = 10GB\n',
      `sd.ini:2: [dispatcher] max_disk_bytes = "10GB" is not a whole number; set it to an integer from 0 to ${MAX}`,
    ],
    [
      'a [dispatcher] max_backlog_per_shard beyond what a number holds',
      '[dispatcher]\nmax_backlog_per_shard = 99999999999999999999\n',
      '[dispatcher] max_backlog_per_shard = 100000000000000000000 is too large',
    ],
    [
      'a negative match_min_bytes',
      '[pool.x]\nmatch_min_bytes = -1\n',
      `sd.ini:2: [pool.x] match_min_bytes = -1 is negative; set it to an integer from 0 to ${MAX}`,
    ],
    [
      'match_below_bytes = 0, which no size meets',
      '[pool.x]\nmatch_below_bytes = 0\n',
      `sd.ini:2: [pool.x] match_below_bytes = 0 is too small; set it to an integer from 1 to ${MAX}`,
    ],
    [
      'a size tier whose bounds are the wrong way round',
      '[pool.x]\nmatch_min_bytes = 100\nmatch_below_bytes = 100\n',
      'sd.ini:3: [pool.x] match_below_bytes = 100 is not above match_min_bytes = 100, so no message size matches',
    ],
    [
      'match_header without "="',
      '[pool.x]\nmatch_header = tenant\n',
      'sd.ini:2: [pool.x] match_header = "tenant" is not NAME=VALUE; write e.g. match_header = tenant=acme',
    ],
    [
      'match_header with an empty name',
      '[pool.x]\nmatch_header = =acme\n',
      'sd.ini:2: [pool.x] match_header = "=acme" has an empty NAME; write NAME=VALUE, e.g. match_header = tenant=acme',
    ],
    [
      'match_header with an empty value',
      '[pool.x]\nmatch_header = tenant =\n',
      'sd.ini:2: [pool.x] match_header = "tenant=" has an empty VALUE; write NAME=VALUE',
    ],
    [
      'match_predicate without "="',
      '[pool.x]\nmatch_predicate = v-s:hasClassifier\n',
      'sd.ini:2: [pool.x] match_predicate = "v-s:hasClassifier" is not NAME=VALUE; write e.g. match_predicate = v-s:hasClassifier=d:classifier_1',
    ],
    [
      'match_predicate with an empty value',
      '[pool.x]\nmatch_predicate = v-s:hasClassifier=\n',
      'sd.ini:2: [pool.x] match_predicate = "v-s:hasClassifier=" has an empty VALUE',
    ],
    [
      'a blank match_type',
      '[pool.x]\nmatch_type = "  "\n',
      'sd.ini:2: [pool.x] match_type = "  " is empty',
    ],
  ];

  it.each(cases)('%s', (_name, text, message) => {
    const error = thrown(text);
    expect(error).toBeInstanceOf(ConfigKeyError);
    expect(error.message).toContain(message);
    expect(error.file).toBe(FILE);
    expect(error.line).toBeTypeOf('number');
  });

  it('names the section and key of the error as fields too', () => {
    const error = thrown('[pool.x]\nmatch_type = t\nmin_workers = -1\n');
    expect([error.section, error.key, error.line]).toEqual(['pool.x', 'min_workers', 3]);
  });

  it('names the pool section in the list of sections for an unknown one', () => {
    expect(thrown('[pools.x]\n').message).toContain(
      'unknown section [pools.x]; the sections are [dispatcher], [worker], [nats], [pool.NAME]',
    );
  });
});

describe('validateConfig on pools built in code (renderIni)', () => {
  it.each([
    [
      'two pools of one name',
      withPools(pool('a'), pool('a', { subQueuePrefix: 'other' })),
      'veda-queue-shard-distributor.ini: [pool.a] is declared twice; give each pool its own name',
    ],
    ['an upper-case name', withPools(pool('GPU')), '[pool.GPU] has the pool name "GPU"'],
    [
      'an empty rule',
      withPools(pool('a', { match: {} })),
      '[pool.a] has no match rule, so it would take every message from the default pool',
    ],
    [
      'a header name with "="',
      withPools(pool('a', { match: { header: { name: 'a=b', value: 'c' } } })),
      '[pool.a] match_header = "a=b=c" has "=" in its NAME',
    ],
    [
      'a predicate value with surrounding spaces',
      withPools(pool('a', { match: { predicate: { name: 'p', value: ' v' } } })),
      '[pool.a] match_predicate = "p= v" has spaces around its NAME or VALUE, which the INI does not keep',
    ],
    [
      'an empty header value',
      withPools(pool('a', { match: { header: { name: 'h', value: '' } } })),
      '[pool.a] match_header = "h=" has an empty VALUE',
    ],
    [
      'a fractional match_min_bytes',
      withPools(pool('a', { match: { minBytes: 1.5 } })),
      '[pool.a] match_min_bytes = 1.5 is not a whole number',
    ],
    [
      'two pools sharing a prefix',
      withPools(pool('a', { subQueuePrefix: 'x' }), pool('b', { subQueuePrefix: 'x' })),
      '[pool.b] sub_queue_prefix = "x" is also the sub_queue_prefix of [pool.a]',
    ],
    [
      'a negative pool limit',
      withPools(pool('a', { backpressure: { maxBacklogPerShard: -1, maxDiskBytes: 0 } })),
      '[pool.a] max_backlog_per_shard = -1 is negative',
    ],
    [
      'a negative [dispatcher] limit',
      { ...defaultConfig(), backpressure: { maxBacklogPerShard: 0, maxDiskBytes: -2 } },
      '[dispatcher] max_disk_bytes = -2 is negative',
    ],
  ])('refuses %s', (_name, config, message) => {
    expect(renderThrown(config).message).toContain(message);
  });
});

describe('renderIni with pools', () => {
  it('round-trips the tiers INI', () => {
    const config = parseIni(TIERS_INI, { env });
    expect(parseIni(renderIni(config), { env })).toStrictEqual(config);
  });

  it('round-trips awkward match values and limits on both levels', () => {
    const config: DistributorConfig = {
      ...defaultConfig(),
      backpressure: { maxBacklogPerShard: 0, maxDiskBytes: MAX },
      pools: [
        pool('a', {
          match: {
            minBytes: 0,
            belowBytes: 1,
            messageType: 'type with ; and # and ${X}',
            header: { name: 'x-h', value: 'v = "quoted" ; not a comment' },
            predicate: { name: 'v-s:p', value: "a=b 'c' \\ d" },
          },
          minWorkers: 0,
          drainingShards: [5, 0, 1],
          movingShards: [1],
          strategy: 'KeyHash',
          keyField: 'k',
          workerModule: '/opt/w "x y"',
          workerArgsTemplate: '--literal {{src}} {src}',
          backpressure: { maxBacklogPerShard: 7, maxDiskBytes: 0 },
        }),
        pool('b', { match: { header: { name: 'h', value: 'v' } } }),
      ],
    };
    expect(parseIni(renderIni(config), { env: { X: 'substituted?' } })).toStrictEqual(config);
  });

  it('writes one commented section per pool, in order, every key explicit', () => {
    const text = renderIni(parseIni(TIERS_INI, { env }));
    const headers = text.match(/^\[.*\]$/gm);
    expect(headers).toEqual([
      '[dispatcher]',
      '[worker]',
      '[pool.large]',
      '[pool.huge]',
      '[pool.docs]',
    ]);
    const huge = text.slice(text.indexOf('[pool.huge]'), text.indexOf('[pool.docs]'));
    for (const line of [
      'match_min_bytes = 16777216',
      'min_workers = 1',
      'draining_shards =',
      'strategy = LeastLoaded',
      'sub_queue_prefix = flow-shard-huge',
      'worker_module = default-worker',
      'worker_args_template = --base',
      'max_backlog_per_shard = 0',
      'max_disk_bytes = 0',
    ]) {
      expect(huge).toContain(`\n${line}`);
    }
    // Like [dispatcher]: no moving_shards when none move, no key_field when unset.
    expect(huge).not.toMatch(/^moving_shards|^key_field|^match_type/m);
    expect(huge).toMatch(/^# /m);
    expect(text).toContain('\nmatch_header = tenant=acme=1\n');
    expect(text).not.toMatch(/[ \t]$/m);
  });

  it('writes the [dispatcher] limits only when config.backpressure is set', () => {
    expect(renderIni(defaultConfig())).not.toContain('max_backlog_per_shard');
    const text = renderIni({
      ...defaultConfig(),
      backpressure: { maxBacklogPerShard: 10, maxDiskBytes: 0 },
    });
    const dispatcher = text.slice(text.indexOf('[dispatcher]'), text.indexOf('[worker]'));
    expect(dispatcher).toContain('\nmax_backlog_per_shard = 10\n');
    expect(dispatcher).toContain('\nmax_disk_bytes = 0\n');
  });
});

describe('live keys of pools', () => {
  const current = parseIni(TIERS_INI, { env });
  const large = current.pools[0] as PoolConfig;
  const replaceLarge = (changes: Partial<PoolConfig>): DistributorConfig => ({
    ...current,
    pools: current.pools.map((p) => (p.name === 'large' ? { ...p, ...changes } : p)),
  });

  it("applies a pool's shard set, strategy, key field and limits live", () => {
    const changes = {
      minWorkers: 6,
      drainingShards: [7],
      movingShards: [7],
      strategy: 'RoundRobin' as const,
      backpressure: { maxBacklogPerShard: 1, maxDiskBytes: 2 },
    };
    const { keyField: _dropped, ...withoutKeyField } = { ...large, ...changes };
    const next = { ...current, pools: [withoutKeyField, ...current.pools.slice(1)] };
    expect(restartKeys(current, next)).toEqual([]);
    expect(withLiveKeys(current, next).pools[0]).toStrictEqual(withoutKeyField);
    expect(withLiveKeys(current, next).pools.slice(1)).toStrictEqual(current.pools.slice(1));
  });

  it('drops moving_shards live when the next config has none', () => {
    const { movingShards: _none, ...withoutMoving } = large;
    const next = { ...current, pools: [withoutMoving, ...current.pools.slice(1)] };
    expect(restartKeys(current, next)).toEqual([]);
    expect(withLiveKeys(current, next).pools[0]).not.toHaveProperty('movingShards');
  });

  it('applies the default pool limits live, including removing them', () => {
    const { backpressure: _gone, ...without } = current;
    expect(restartKeys(current, without)).toEqual([]);
    expect(withLiveKeys(current, without)).not.toHaveProperty('backpressure');
    const changed = { ...current, backpressure: { maxBacklogPerShard: 1, maxDiskBytes: 1 } };
    expect(restartKeys(current, changed)).toEqual([]);
    expect(withLiveKeys(current, changed).backpressure).toEqual(changed.backpressure);
    expect(withLiveKeys(without, current).backpressure).toEqual(current.backpressure);
  });

  it("ignores a pool's worker command, which only the workers' launcher reads", () => {
    const next = replaceLarge({ workerModule: 'other', workerArgsTemplate: '--other' });
    expect(restartKeys(current, next)).toEqual([]);
    expect(withLiveKeys(current, next).pools[0]?.workerModule).toBe(large.workerModule);
  });

  it("needs a restart for a pool's rule or queues, keeping the running ones", () => {
    const next = replaceLarge({
      match: { minBytes: 1 },
      subQueuePrefix: 'elsewhere',
      minWorkers: 9,
    });
    expect(restartKeys(current, next)).toEqual([
      '[pool.large] match_*',
      '[pool.large] sub_queue_prefix',
    ]);
    const merged = withLiveKeys(current, next);
    expect(merged.pools[0]).toMatchObject({
      match: large.match,
      subQueuePrefix: large.subQueuePrefix,
      minWorkers: 9,
    });
  });

  it('does not mistake the same rule written in another key order for a change', () => {
    const next = replaceLarge({ match: { belowBytes: 16_777_216, minBytes: 1_048_576 } });
    expect(restartKeys(current, next)).toEqual([]);
  });

  it.each([
    ['added', (pools: readonly PoolConfig[]) => [...pools, pool('new')]],
    ['removed', (pools: readonly PoolConfig[]) => pools.slice(1)],
    [
      'renamed',
      (pools: readonly PoolConfig[]) => pools.map((p, i) => (i === 0 ? { ...p, name: 'big' } : p)),
    ],
    ['reordered', (pools: readonly PoolConfig[]) => [...pools].reverse()],
  ])('needs a restart when pools are %s, keeping the running pools', (_how, change) => {
    const next = { ...current, pools: change(current.pools) };
    expect(restartKeys(current, next)).toEqual(['[pool.*] sections']);
    expect(withLiveKeys(current, next).pools.map((p) => p.name)).toEqual(['large', 'huge', 'docs']);
  });
});

describe('pool shard helpers', () => {
  it("name a pool's shard queues and split its shard set, like the default pool's", () => {
    expect(poolSubQueueName(LARGE, 3)).toBe('flow-shard-large-3');
    expect(poolShardSet(LARGE)).toEqual({ live: [0, 1], draining: [2, 3] });
    expect(poolMovingShards(LARGE)).toEqual([3]);
    expect(poolMovingShards(HUGE)).toEqual([]);
  });
});
