import { ARGS_PLACEHOLDERS, BACKENDS, STRATEGIES } from '../api/index.ts';
import { CONFIG_FILE_NAME } from './defaults.ts';
import { NATS_FILE_KEYS } from './nats-files.ts';
import { escapeEnv } from './env-substitution.ts';
import { POOL_SECTION_PREFIX } from './pools.ts';
import { FAILURE_POLICIES } from './failure.ts';
import type { BackpressureConfig, DistributorConfig, FailureConfig, PoolConfig } from './types.ts';
import { validateConfig } from './validate.ts';

// What `ini` reads back unchanged without quotes: no comment or quote characters, no
// backslash, no surrounding whitespace.
const BARE = /^[^\s;#"'\\](?:[^;#"'\\\r\n]*[^\s;#"'\\])?$/;

/** A value as INI text: bare when safe, else JSON-quoted (which `ini` unquotes exactly). */
function value(text: string): string {
  const escaped = escapeEnv(text);
  return escaped === '' || BARE.test(escaped) ? escaped : JSON.stringify(escaped);
}

type Line = readonly [comment: string, key: string, text: string] | string;

function section(name: string, lines: readonly Line[]): string {
  const body = lines.map((line) =>
    typeof line === 'string'
      ? line
      : `# ${line[0]}\n${line[1]} =${line[2] === '' ? '' : ` ${value(line[2])}`}`,
  );
  return `[${name}]\n${body.join('\n\n')}\n`;
}

const placeholders = ARGS_PLACEHOLDERS.map((p) => `{${p}}`).join(' ');

/**
 * Writes a config as veda-queue-shard-distributor.ini, every key explicit and commented, so
 * `parseIni(renderIni(c), { env })` deep-equals `c` for any valid `c` and any env (`${`
 * in values is escaped). Validates first: an invalid config throws instead of being written.
 */
export function renderIni(config: DistributorConfig): string {
  validateConfig(config);
  const d = config.dispatcher;
  const w = config.worker;
  const parts = [
    [
      `# ${CONFIG_FILE_NAME}: read by \`shard-distributor run\` and by the distributor container;`,
      '# the operator renders it from a ShardDistributor. Values may use ${VAR} and',
      '# ${VAR:-default} from the environment ($${ is a literal ${). Keys and sections',
      '# not listed here are errors.',
      '',
    ].join('\n'),
    section('dispatcher', [
      ['Directory of the main queue (veda backend).', 'base_path', d.basePath],
      ['Name of the main queue to read from.', 'main_queue_name', d.mainQueueName],
      [
        'Live shards, 0 … min_workers-1, each with its worker.',
        'min_workers',
        String(d.minWorkers),
      ],
      [
        'Shards being removed (comma-separated, each >= min_workers): no new messages. Each is emptied by its worker or, with that worker stopped, moved to live shards.',
        'draining_shards',
        d.drainingShards.join(','),
      ],
      // Only when set, so an INI without moves reads exactly as before the key existed.
      ...(d.movingShards === undefined || d.movingShards.length === 0
        ? []
        : [
            [
              'Draining shards whose workers are stopped: their backlog is moved to live shards.',
              'moving_shards',
              d.movingShards.join(','),
            ] as const,
          ]),
      [
        "Consumer name the main queue is read as; also the workers' {src}.",
        'consumer_name',
        d.consumerName,
      ],
      [`Queue backend: ${BACKENDS.join(' or ')}.`, 'backend', d.backend],
      [`How a shard is picked: ${STRATEGIES.join(', ')}.`, 'strategy', d.strategy],
      ...(d.keyField === undefined
        ? [
            "# KeyHash only: header holding the routing key (default: the Veda individual's URI).\n# key_field =",
          ]
        : [['KeyHash only: header holding the routing key.', 'key_field', d.keyField] as const]),
      ['Messages moved per batch.', 'batch_size', String(d.batchSize)],
      [
        'Port of /metrics, /load, /healthz and /readyz (0: any free port).',
        'metrics_port',
        String(d.metricsPort),
      ],
      [
        'fsync (veda) or wait for the publish ack (nats) before committing the main queue.',
        'durable',
        String(d.durable),
      ],
      [
        'Seconds a shard may hold a backlog without progress before it counts as stuck.',
        'stuck_after_sec',
        String(d.stuckAfterSec),
      ],
      // Only when set, so an INI without limits reads exactly as before the keys existed.
      ...(config.backpressure === undefined ? [] : backpressureLines(config.backpressure)),
      ...(config.failure === undefined ? [] : failureLines(config.failure)),
    ]),
    section('worker', [
      ['Directory of the shard queues (veda backend).', 'worker_base_path', w.workerBasePath],
      ["Shard i's queue is <sub_queue_prefix>-<i>.", 'sub_queue_prefix', w.subQueuePrefix],
      [
        'Seconds a worker sleeps when its queue is empty.',
        'sleep_empty_sec',
        String(w.sleepEmptySec),
      ],
      [
        'Worker executable and fixed arguments (quotes honoured, never run by a shell).',
        'worker_module',
        w.workerModule,
      ],
      [
        `Worker arguments per shard. Placeholders: ${placeholders}; {{x}} is a literal {x}.`,
        'worker_args_template',
        w.workerArgsTemplate,
      ],
    ]),
  ];
  const nats = config.nats;
  if (nats !== undefined) {
    parts.push(
      section('nats', [
        ['NATS server URL(s), comma-separated.', 'url', nats.url],
        ['JetStream stream of the main queue.', 'main_stream', nats.mainStream],
        ['JetStream stream of the shard subjects.', 'shard_stream', nats.shardStream],
        ...NATS_FILE_KEYS.flatMap(({ field, key, about }) => {
          const path = nats[field];
          return path === undefined ? [] : [[about, key, path] as const];
        }),
      ]),
    );
  }
  parts.push(...config.pools.map(poolSection));
  return parts.join('\n');
}

function backpressureLines(backpressure: BackpressureConfig): Line[] {
  return [
    [
      'Stop reading the main queue while every live shard holds this many messages (0: no limit).',
      'max_backlog_per_shard',
      String(backpressure.maxBacklogPerShard),
    ],
    [
      'veda: stop reading the main queue while the shard queues use this many bytes on disk (0: no limit).',
      'max_disk_bytes',
      String(backpressure.maxDiskBytes),
    ],
  ];
}

function failureLines(failure: FailureConfig): Line[] {
  return [
    [
      `A rejected message after max_attempts rejects: ${FAILURE_POLICIES.join(', ')} (Block: retried in place, the shard waits).`,
      'failure_policy',
      failure.policy,
    ],
    [
      'Rejects before a message is dead-lettered or dropped (1: no retry).',
      'max_attempts',
      String(failure.maxAttempts),
    ],
    [
      'Seconds before the first retry; doubled for each further one.',
      'retry_backoff_sec',
      String(failure.retryBackoffSec),
    ],
    [
      'The longest wait between retries, in seconds.',
      'retry_backoff_max_sec',
      String(failure.retryBackoffMaxSec),
    ],
  ];
}

/** A message goes to the first pool whose every match_* condition holds. */
function matchLines(pool: PoolConfig): Line[] {
  const m = pool.match;
  const lines: Line[] = [];
  if (m.minBytes !== undefined)
    lines.push(['Payloads of at least this many bytes.', 'match_min_bytes', String(m.minBytes)]);
  if (m.belowBytes !== undefined)
    lines.push([
      'Payloads of fewer than this many bytes.',
      'match_below_bytes',
      String(m.belowBytes),
    ]);
  if (m.messageType !== undefined) {
    lines.push([
      "Message type: the type header, a JSON payload's type field or a Veda individual's rdf:type (a change event's: of its new_state, else prev_state).",
      'match_type',
      m.messageType,
    ]);
  }
  if (m.header !== undefined) {
    lines.push([
      "NAME=VALUE: a header, or a JSON payload's top-level field, equals VALUE.",
      'match_header',
      `${m.header.name}=${m.header.value}`,
    ]);
  }
  if (m.predicate !== undefined) {
    lines.push([
      'PREDICATE=VALUE: a Veda individual has this value for this predicate.',
      'match_predicate',
      `${m.predicate.name}=${m.predicate.value}`,
    ]);
  }
  return lines;
}

function poolSection(pool: PoolConfig): string {
  return section(`${POOL_SECTION_PREFIX}${pool.name}`, [
    `# Worker pool ${JSON.stringify(pool.name)}: takes the messages its match_* keys select (all must hold);\n` +
      '# pools are tried in file order, and a message no pool takes goes to [dispatcher]/[worker].',
    ...matchLines(pool),
    [
      'Live shards, 0 … min_workers-1, each with its worker.',
      'min_workers',
      String(pool.minWorkers),
    ],
    [
      'Shards being removed (comma-separated, each >= min_workers).',
      'draining_shards',
      pool.drainingShards.join(','),
    ],
    ...(pool.movingShards === undefined || pool.movingShards.length === 0
      ? []
      : [
          [
            'Draining shards whose workers are stopped: their backlog is moved to live shards.',
            'moving_shards',
            pool.movingShards.join(','),
          ] as const,
        ]),
    [`How a shard is picked: ${STRATEGIES.join(', ')}.`, 'strategy', pool.strategy],
    ...(pool.keyField === undefined
      ? []
      : [['KeyHash only: header holding the routing key.', 'key_field', pool.keyField] as const]),
    ["Shard i's queue is <sub_queue_prefix>-<i>.", 'sub_queue_prefix', pool.subQueuePrefix],
    [
      'Worker executable and fixed arguments (quotes honoured, never run by a shell).',
      'worker_module',
      pool.workerModule,
    ],
    [
      `Worker arguments per shard. Placeholders: ${placeholders}; {{x}} is a literal {x}.`,
      'worker_args_template',
      pool.workerArgsTemplate,
    ],
    ...(pool.sleepEmptySec === undefined
      ? []
      : [
          [
            "Seconds this pool's workers pause when their queue is empty ({sleep_empty_sec}).",
            'sleep_empty_sec',
            String(pool.sleepEmptySec),
          ] as const,
        ]),
    ...backpressureLines(pool.backpressure),
    ...(pool.failure === undefined ? [] : failureLines(pool.failure)),
  ]);
}
