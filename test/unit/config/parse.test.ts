import { describe, expect, it } from 'vitest';
import {
  ConfigEnvError,
  ConfigFileError,
  ConfigKeyError,
  defaultConfig,
  parseIni,
  renderWorkerArgv,
  shardSet,
  subQueueName,
} from '../../../src/config/index.ts';
import { ShardDistributorError } from '../../../src/errors.ts';

// The INI from the original's README (seeds/000), comments and all.
const ORIGINAL_INI = `[dispatcher]
# Base path for main queue (source queue for reading)
base_path = ./data/queue-main

# Name of the main queue to read from
main_queue_name = individuals-flow

# Minimum number of worker processes to maintain
min_workers = 4

[worker]
# Base path for worker sub-queues and service files
worker_base_path = ./data/queue-workers

# Prefix for sub-queue names (will be appended with -0, -1, -2, etc.)
sub_queue_prefix = individuals-flow-shard

# Sleep time in seconds when a worker queue is empty
sleep_empty_sec = 0.5

# Command to execute for spawning a worker
worker_module = "python3 -m worker.queue_worker"

# Template for worker arguments.
# Available placeholders: {worker_base_path}, {sub_queue_name}, {sleep_empty_sec}
worker_args_template = "--base {worker_base_path} --sub {sub_queue_name} --src queue-shard-distributor --sleep-empty {sleep_empty_sec}"
`;

const env = {};

describe('parseIni on the original INI', () => {
  it('reads the original file as the defaults', () => {
    expect(parseIni(ORIGINAL_INI, { env })).toStrictEqual(defaultConfig());
  });

  it('starts the same worker command line the original did for each shard', () => {
    const config = parseIni(ORIGINAL_INI, { env });
    // The original split worker_module and the rendered template on whitespace.
    const original = (i: number) =>
      [
        'python3 -m worker.queue_worker',
        `--base ./data/queue-workers --sub individuals-flow-shard-${i} --src queue-shard-distributor --sleep-empty 0.5`,
      ]
        .join(' ')
        .split(/\s+/);
    for (const i of [0, 1, 3]) expect(renderWorkerArgv(config, i)).toEqual(original(i));
  });

  it('names shard queues <sub_queue_prefix>-<i>, live 0 … min_workers-1', () => {
    const config = parseIni(ORIGINAL_INI, { env });
    expect(subQueueName(config, 2)).toBe('individuals-flow-shard-2');
    expect(shardSet(config)).toEqual({ live: [0, 1, 2, 3], draining: [] });
  });
});

describe('parseIni defaults', () => {
  it('reads key: value lines as the original (configparser) did, splitting at the first delimiter', () => {
    const config = parseIni(
      '[dispatcher]\nmin_workers: 6\nbackend: nats\n[nats]\nurl = nats://queue.example:4222\nmain_stream: MAIN\n',
      { env },
    );
    expect(config.dispatcher.minWorkers).toBe(6);
    expect(config.nats).toMatchObject({ url: 'nats://queue.example:4222', mainStream: 'MAIN' });
  });

  it('gives the defaults for an empty file', () => {
    expect(parseIni('', { env })).toStrictEqual(defaultConfig());
  });

  it('derives sub_queue_prefix from main_queue_name when it is not set', () => {
    const config = parseIni('[dispatcher]\nmain_queue_name = orders\n', { env });
    expect(config.worker.subQueuePrefix).toBe('orders-shard');
  });

  it('keeps an explicit sub_queue_prefix whatever the main queue', () => {
    const config = parseIni(
      '[dispatcher]\nmain_queue_name = orders\n[worker]\nsub_queue_prefix = s\n',
      { env },
    );
    expect(config.worker.subQueuePrefix).toBe('s');
  });
});

describe('parseIni reads our keys', () => {
  it('reads every [dispatcher] key', () => {
    const text = [
      '[dispatcher]',
      'base_path = /q/main',
      'main_queue_name = flow',
      'min_workers = 4',
      'draining_shards = 4, 5',
      'consumer_name = sd-1',
      'backend = veda',
      'strategy = KeyHash',
      'key_field = uri',
      'batch_size = 500',
      'metrics_port = 0',
      'durable = no',
      'stuck_after_sec = 2.5',
      // Workers read as consumer_name (the default template's --src is the default name).
      '[worker]',
      'worker_args_template = --sub {sub_queue_name} --src {src}',
    ].join('\n');
    expect(parseIni(text, { env }).dispatcher).toStrictEqual({
      basePath: '/q/main',
      mainQueueName: 'flow',
      minWorkers: 4,
      drainingShards: [4, 5],
      consumerName: 'sd-1',
      backend: 'veda',
      strategy: 'KeyHash',
      keyField: 'uri',
      batchSize: 500,
      metricsPort: 0,
      durable: false,
      stuckAfterSec: 2.5,
    });
  });

  it('splits the shard set into live and draining', () => {
    const config = parseIni('[dispatcher]\nmin_workers = 4\ndraining_shards = 4,5\n', { env });
    expect(shardSet(config)).toEqual({ live: [0, 1, 2, 3], draining: [4, 5] });
  });

  it('reads [nats] when backend = nats, with stream defaults', () => {
    const config = parseIni(
      '[dispatcher]\nbackend = nats\n[nats]\nurl = nats://a:4222,nats://b:4222\n',
      {
        env,
      },
    );
    expect(config.nats).toStrictEqual({
      url: 'nats://a:4222,nats://b:4222',
      mainStream: 'SD_MAIN',
      shardStream: 'SD_SHARDS',
    });
  });

  it('treats an empty optional key as unset, so ${VAR:-} can switch it off', () => {
    const text =
      '[dispatcher]\nbackend = nats\n[nats]\nurl = nats://n:4222\ncredentials_file = ${CREDS:-}\n';
    expect(parseIni(text, { env }).nats?.credentialsFile).toBeUndefined();
    expect(parseIni(text, { env: { CREDS: '/run/nats.creds' } }).nats?.credentialsFile).toBe(
      '/run/nats.creds',
    );
  });

  it('matches section and key names case-insensitively, as the original configparser did', () => {
    const config = parseIni('[Dispatcher]\nMin_Workers = 6\n[WORKER]\nSleep_Empty_Sec = 2\n', {
      env,
    });
    expect(config.dispatcher.minWorkers).toBe(6);
    expect(config.worker.sleepEmptySec).toBe(2);
  });

  it('accepts strategy and backend in any case and returns the canonical spelling', () => {
    const config = parseIni('[dispatcher]\nstrategy = leastloaded\nbackend = VEDA\n', { env });
    expect(config.dispatcher.strategy).toBe('LeastLoaded');
    expect(config.dispatcher.backend).toBe('veda');
  });

  it('unquotes values and drops comments as the ini package does', () => {
    const text = [
      '[dispatcher]',
      'base_path = "/data/with ; semicolon" ; a comment after a quoted value',
      "consumer_name = '007'",
      'main_queue_name = flow # trailing comment',
      '[worker]',
      'worker_base_path = /a\\;b',
      'worker_args_template = --src {src}',
    ].join('\n');
    const config = parseIni(text, { env });
    expect(config.dispatcher.basePath).toBe('/data/with ; semicolon');
    expect(config.dispatcher.consumerName).toBe('007');
    expect(config.dispatcher.mainQueueName).toBe('flow');
    expect(config.worker.workerBasePath).toBe('/a;b');
  });

  it("keeps quoted words whole in a value that starts and ends with a ' quote", () => {
    const text = [
      '[worker]',
      "worker_module = '/srv/my app/bin/python3' -m 'worker.queue_worker'",
      "worker_args_template = '--sub' {sub_queue_name} --tag 'a b'",
    ].join('\n');
    const config = parseIni(text, { env });
    expect(renderWorkerArgv(config, 0)).toEqual([
      '/srv/my app/bin/python3',
      '-m',
      'worker.queue_worker',
      '--sub',
      'individuals-flow-shard-0',
      '--tag',
      'a b',
    ]);
  });

  it("reads a ' quoted value of any other key as the ini package does", () => {
    const config = parseIni("[dispatcher]\nbase_path = '/data/o'brien'\n", { env });
    expect(config.dispatcher.basePath).toBe("/data/o'brien");
  });

  it('reads CRLF files', () => {
    expect(parseIni('[dispatcher]\r\nmin_workers = 7\r\n', { env }).dispatcher.minWorkers).toBe(7);
  });
});

describe('parseIni substitutes the environment', () => {
  it('fills ${VAR} and ${VAR:-default} in values', () => {
    const text = '[dispatcher]\nbase_path = ${ROOT}/main\nmin_workers = ${WORKERS:-3}\n';
    expect(parseIni(text, { env: { ROOT: '/srv' } }).dispatcher).toMatchObject({
      basePath: '/srv/main',
      minWorkers: 3,
    });
    expect(parseIni(text, { env: { ROOT: '/srv', WORKERS: '9' } }).dispatcher.minWorkers).toBe(9);
  });

  it('checks a substituted value like a written one', () => {
    const attempt = () =>
      parseIni('[dispatcher]\nmin_workers = ${WORKERS}\n', { env: { WORKERS: 'many' } });
    expect(attempt).toThrow(ConfigKeyError);
    expect(attempt).toThrow('[dispatcher] min_workers = "many" is not a whole number');
  });

  it('reads only the env it is given', () => {
    const attempt = () => parseIni('[dispatcher]\nbase_path = ${HOME}\n', { env: {} });
    expect(attempt).toThrow(ConfigEnvError);
  });
});

describe('parseIni rejects bad values with the file, key and reason', () => {
  const cases: [string, string, new (...args: never[]) => Error, string][] = [
    [
      'not a number',
      '[dispatcher]\nmin_workers = four',
      ConfigKeyError,
      'min_workers = "four" is not a whole number',
    ],
    ['negative', '[dispatcher]\nbatch_size = -5', ConfigKeyError, 'batch_size = -5 is negative'],
    [
      'unknown strategy',
      '[dispatcher]\nstrategy = Sticky',
      ConfigKeyError,
      'strategy = "Sticky" is not a known strategy',
    ],
    [
      'unknown placeholder',
      '[worker]\nworker_module = run {shard}',
      ConfigKeyError,
      'worker_module = "run {shard}" uses unknown placeholder {shard}',
    ],
    [
      'placeholder not closed',
      '[worker]\nworker_args_template = --sub {sub_queue_name --src {src}',
      ConfigKeyError,
      'worker_args_template = "--sub {sub_queue_name --src {src}" opens placeholder {sub_queue_name without its closing brace; write {sub_queue_name}',
    ],
    [
      'unset variable',
      '[worker]\nworker_base_path = ${NOPE}',
      ConfigEnvError,
      'NOPE, which is not set and has no default',
    ],
    [
      'unknown key',
      '[worker]\nworker_args = x',
      ConfigKeyError,
      'unknown key [worker] worker_args',
    ],
    [
      'unknown section',
      '[workers]\n',
      ConfigKeyError,
      'unknown section [workers] (did you mean [worker]?)',
    ],
    ['no "="', '[worker]\nworker_base_path', ConfigFileError, '"worker_base_path" has no "="'],
    [
      'workers reading as another consumer',
      '[dispatcher]\nconsumer_name = sd-2',
      ConfigKeyError,
      'passes --src queue-shard-distributor, but [dispatcher] consumer_name is sd-2',
    ],
    [
      'a number too big to be exact',
      '[dispatcher]\nbatch_size = 99999999999999999999',
      ConfigKeyError,
      'is too large',
    ],
    [
      'a draining shard above the limit',
      '[dispatcher]\ndraining_shards = 600',
      ConfigKeyError,
      'includes 600',
    ],
    [
      'a NATS URL with spaces',
      '[dispatcher]\nbackend = nats\n[nats]\nurl = nats://a b',
      ConfigKeyError,
      '[nats] url = "nats://a b" is not a server URL',
    ],
    [
      'an invalid stream name',
      '[dispatcher]\nbackend = nats\n[nats]\nurl = n:4222\nmain_stream = a.b',
      ConfigKeyError,
      'main_stream = "a.b" is not a valid JetStream stream name',
    ],
    ['an empty path', '[dispatcher]\nbase_path =', ConfigKeyError, 'base_path = "" is empty'],
  ];

  it.each(cases)('%s', (_name, text, type, fragment) => {
    const attempt = () => parseIni(text, { file: 'sd.ini', env: {} });
    expect(attempt).toThrow(type);
    expect(attempt).toThrow(ShardDistributorError);
    expect(attempt).toThrow(/^sd\.ini(:\d+)?: /);
    expect(attempt).toThrow(fragment);
  });

  it('records where the problem is on the error', () => {
    try {
      parseIni('[dispatcher]\n\nmin_workers = four\n', { file: 'sd.ini', env: {} });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'SD_ERR_CONFIG_KEY',
        name: 'ConfigKeyError',
        file: 'sd.ini',
        section: 'dispatcher',
        key: 'min_workers',
        line: 3,
      });
    }
  });

  it('points at the line of a value that fails a range check', () => {
    expect(() =>
      parseIni('[dispatcher]\n\nmin_workers = 513\n', { file: 'sd.ini', env: {} }),
    ).toThrow('sd.ini:3: [dispatcher] min_workers = 513 is too large');
  });
});

describe('placeholders in the argv keys', () => {
  it('leaves braces around other text as plain text, and {{name}} as a literal', () => {
    const config = parseIni(
      `[worker]\nworker_args_template = --json '{"a": 1}' --tag {{src}} --x {a --y {src_other --src {src}\n`,
      { env: {} },
    );
    expect(config.worker.workerArgsTemplate).toContain('--x {a --y {src_other');
  });
});
