import { Type, type Static } from '@sinclair/typebox';
import {
  ARGS_PLACEHOLDERS,
  BACKENDS,
  DEFAULT_POOL,
  DELETION_POLICIES,
  FAILURE_POLICIES,
  MAX_FAILURE_ATTEMPTS,
  MAX_POOL_NAME,
  MAX_POOLS,
  MAX_RETRY_BACKOFF_SECONDS,
  MAX_WORKERS_LIMIT,
  PLACEMENTS,
  SIDECAR_KINDS,
  STRATEGIES,
} from './constants.ts';
import {
  celRules,
  FreeForm,
  immutable,
  immutableMessage,
  type CelRule,
  PositiveNumber,
  Resources,
  StringEnum,
} from './schema-helpers.ts';

/**
 * ShardDistributor v1alpha1: the one source of truth. The TypeScript types are derived from
 * these schemas (Static<>), the CRD in crds/ is generated from them (`npm run generate`),
 * and defaults are applied from them both by the API server and by `withDefaults`.
 */

const QUEUE_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
const DEFAULT_VEDA_PATH = '/var/lib/veda/queue';
const MAIN_QUEUE_LEFT =
  'the distributor would read another main queue, leaving what waits in this one';
const SHARD_BACKLOG_LEFT = "the shard queues' backlog would stay where no worker reads it";
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const placeholderAlternatives = ARGS_PLACEHOLDERS.join('|');
// Literal text, or a known {placeholder}; any other brace is a typo the schema must catch.
const ARGS_TEMPLATE_RULE = `^([^{}]|\\{(${placeholderAlternatives})\\})*$`;

function secretKeyRef(description: string) {
  return Type.Object(
    {
      name: Type.String({ minLength: 1, description: 'Name of a Secret in the same namespace.' }),
      key: Type.String({ minLength: 1, description: 'Key inside the Secret.' }),
    },
    { description: `${description} A reference to one key of a Secret, never the value itself.` },
  );
}

export const VedaQueueSchema = Type.Object(
  {
    basePath: Type.String({
      default: DEFAULT_VEDA_PATH,
      minLength: 1,
      description: 'Directory of the main queue inside the pods (INI: [dispatcher] base_path).',
    }),
    workerBasePath: Type.String({
      default: DEFAULT_VEDA_PATH,
      minLength: 1,
      description:
        'Directory of the shard queues inside the pods (INI: [worker] worker_base_path).',
    }),
    persistentVolumeClaim: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'PersistentVolumeClaim holding the queues, mounted into the distributor and every worker. ' +
          'Use a ReadWriteMany claim when workers may run on other nodes.',
      }),
    ),
    volumeName: Type.Optional(
      Type.String({
        pattern: DNS_LABEL,
        description:
          'With distributor.placement Sidecar: the name of the volume in the host workload that holds the main queue.',
      }),
    ),
  },
  { description: 'The Veda file queue (embedded default backend): files on a shared volume.' },
);

export const NatsTlsSchema = Type.Object(
  {
    caSecret: Type.Optional(
      secretKeyRef(
        "PEM CA bundle the NATS server's certificate is checked against (a private CA).",
      ),
    ),
    certSecret: Type.Optional(
      secretKeyRef(
        'PEM client certificate, for a server that verifies clients (mutual TLS); with keySecret.',
      ),
    ),
    keySecret: Type.Optional(secretKeyRef('PEM private key of certSecret.')),
  },
  {
    description:
      'TLS to the NATS server, each file a Secret key mounted read-only into the distributor and every worker ' +
      '(INI: [nats] tls_ca_file, tls_cert_file, tls_key_file; workers: SD_NATS_TLS_CA_FILE, SD_NATS_TLS_CERT_FILE, SD_NATS_TLS_KEY_FILE).',
    // One rule per field, so the error names the one that is missing.
    ...celRules(
      {
        rule: 'has(self.keySecret) || !has(self.certSecret)',
        fieldPath: '.keySecret',
        reason: 'FieldValueRequired',
        message:
          'queue.nats.tls.keySecret is required with certSecret: mutual TLS needs the client certificate and its private key; set both or neither',
      },
      {
        rule: 'has(self.certSecret) || !has(self.keySecret)',
        fieldPath: '.certSecret',
        reason: 'FieldValueRequired',
        message:
          'queue.nats.tls.certSecret is required with keySecret: mutual TLS needs the client certificate and its private key; set both or neither',
      },
    ),
  },
);

export const NatsQueueSchema = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      description: 'NATS server URL, e.g. nats://nats.messaging:4222.',
    }),
    mainStream: Type.String({
      default: 'SD_MAIN',
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'JetStream stream holding the main queue.',
      ...immutable('queue.nats.mainStream', MAIN_QUEUE_LEFT),
    }),
    shardStream: Type.String({
      default: 'SD_SHARDS',
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'JetStream stream holding the shard subjects.',
      ...immutable('queue.nats.shardStream', SHARD_BACKLOG_LEFT),
    }),
    credentialsSecret: Type.Optional(secretKeyRef('NATS credentials (.creds) file.')),
    workerCredentialsSecret: Type.Optional(
      secretKeyRef(
        "The workers' own NATS credentials (.creds) file, so they can be given only what a worker does (read and acknowledge its shard subjects) rather than the distributor's rights; without it the workers get credentialsSecret.",
      ),
    ),
    tls: Type.Optional(NatsTlsSchema),
  },
  { description: 'NATS JetStream backend, for workers on more than one machine.' },
);

/** What `queue.veda.<field>` is, as CEL, for `side` (self or oldSelf), its default filled in. */
function vedaPathOf(side: string, field: string): string {
  return `(has(${side}.veda) && has(${side}.veda.${field}) ? ${side}.veda.${field} : '${DEFAULT_VEDA_PATH}')`;
}

/**
 * The veda directories and claim may not move (see `immutable`). Rules on the queue, not on
 * the fields: a field's own rule is not checked when queue.veda was left out before, and
 * setting it then moves the queues from the default directory all the same.
 */
function vedaPathRules(): CelRule[] {
  const forbidden = (field: string, loses: string): CelRule => ({
    rule: `${vedaPathOf('self', field)} == ${vedaPathOf('oldSelf', field)}`,
    fieldPath: `.veda.${field}`,
    reason: 'FieldValueForbidden',
    message: immutableMessage(`queue.veda.${field}`, loses),
  });
  const claim = (side: string) => `has(${side}.veda) && has(${side}.veda.persistentVolumeClaim)`;
  return [
    forbidden('basePath', MAIN_QUEUE_LEFT),
    forbidden('workerBasePath', SHARD_BACKLOG_LEFT),
    {
      // Added where there was none (the queues were on no shared volume): allowed.
      rule:
        `!(${claim('oldSelf')}) || ` +
        `(${claim('self')} && self.veda.persistentVolumeClaim == oldSelf.veda.persistentVolumeClaim)`,
      fieldPath: '.veda.persistentVolumeClaim',
      reason: 'FieldValueForbidden',
      message: immutableMessage(
        'queue.veda.persistentVolumeClaim',
        'the queues on that claim would stay where nothing reads them',
        'changed or removed once set',
      ),
    },
  ];
}

export const QueueSchema = Type.Object(
  {
    backend: StringEnum(BACKENDS, {
      default: 'veda',
      description: 'veda (files on a shared volume) or nats (JetStream).',
      ...immutable(
        'queue.backend',
        'every queue would be somewhere else, and what waits in these ones would stay there',
      ),
    }),
    mainQueue: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: QUEUE_NAME,
      description: 'Name of the main queue to fan out (INI: [dispatcher] main_queue_name).',
      ...immutable(
        'queue.mainQueue',
        'the distributor would read another main queue, leaving what waits in this one, and the default shard prefix follows it',
      ),
    }),
    consumerName: Type.String({
      default: 'queue-shard-distributor',
      minLength: 1,
      maxLength: 200,
      pattern: QUEUE_NAME,
      description: 'Consumer name the distributor reads the main queue as (INI: consumer_name).',
      ...immutable(
        'queue.consumerName',
        'a new consumer reads the main queue from its first message, so every message still there would be handed out again, and the workers (--src) would read their shard queues from the start',
      ),
    }),
    subQueuePrefix: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: QUEUE_NAME,
        description:
          'Shard queue i is named <subQueuePrefix>-<i>; defaults to <mainQueue>-shard (INI: sub_queue_prefix).',
      }),
    ),
    veda: Type.Optional(VedaQueueSchema),
    nats: Type.Optional(NatsQueueSchema),
  },
  {
    description: 'Where the messages are: the main queue and the shard queues.',
    ...celRules(
      ...vedaPathRules(),
      {
        // Set, left out (<mainQueue>-shard) or spelled out as that default: the same queues.
        rule:
          "(has(self.subQueuePrefix) ? self.subQueuePrefix : self.mainQueue + '-shard') == " +
          "(has(oldSelf.subQueuePrefix) ? oldSelf.subQueuePrefix : oldSelf.mainQueue + '-shard')",
        fieldPath: '.subQueuePrefix',
        reason: 'FieldValueForbidden',
        message: immutableMessage('queue.subQueuePrefix', SHARD_BACKLOG_LEFT),
      },
      {
        rule: "self.backend != 'nats' || has(self.nats)",
        message: 'queue.nats is required when queue.backend is nats',
        fieldPath: '.nats',
        reason: 'FieldValueRequired',
      },
      {
        rule: "self.backend != 'veda' || !has(self.nats)",
        message:
          'queue.nats must not be set when queue.backend is veda; set queue.backend: nats or remove queue.nats',
        fieldPath: '.nats',
        reason: 'FieldValueForbidden',
      },
      {
        rule: "self.backend != 'nats' || !has(self.veda)",
        message:
          'queue.veda must not be set when queue.backend is nats; set queue.backend: veda or remove queue.veda',
        fieldPath: '.veda',
        reason: 'FieldValueForbidden',
      },
    ),
  },
);

const EnvVarSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  value: Type.Optional(Type.String()),
  valueFrom: Type.Optional(
    FreeForm({ description: 'As in a container env var (secretKeyRef, configMapKeyRef, …).' }),
  ),
});

/**
 * A worker template's fields. `args` bounds argsTemplate: the API server estimates the cost of
 * its placeholder rule from them, and a pool's template (up to MAX_POOLS of them) must fit
 * the same budget as spec.worker's, so pools get smaller bounds (still far beyond any argv).
 */
function workerProperties(args: { maxItems: number; maxLength: number }) {
  return {
    image: Type.String({ minLength: 1, description: 'Container image of the worker.' }),
    command: Type.Array(Type.String(), {
      minItems: 1,
      maxItems: 64,
      description:
        'Worker executable and its fixed arguments, as an argv list (INI: worker_module). Never run through a shell.',
    }),
    argsTemplate: Type.Array(Type.String({ maxLength: args.maxLength }), {
      default: [
        '--base',
        '{worker_base_path}',
        '--sub',
        '{sub_queue_name}',
        '--src',
        '{src}',
        '--sleep-empty',
        '{sleep_empty_sec}',
      ],
      maxItems: args.maxItems,
      description:
        'Arguments rendered per shard, one list item per argv item (INI: worker_args_template). ' +
        `Placeholders: ${ARGS_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}.`,
      ...celRules({
        rule: `self.all(arg, arg.matches('${ARGS_TEMPLATE_RULE.replaceAll('\\', '\\\\')}'))`,
        message: `worker.argsTemplate has an unknown {placeholder}; use only ${ARGS_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
      }),
    }),
    sleepEmptySeconds: Type.Number({
      default: 0.5,
      minimum: 0,
      maximum: 3600,
      description: 'How long a worker sleeps when its shard is empty (INI: sleep_empty_sec).',
    }),
    env: Type.Optional(
      Type.Array(EnvVarSchema, {
        maxItems: 256,
        description: 'Environment of the worker container.',
      }),
    ),
    resources: Type.Optional(Resources('CPU and memory of the worker container.')),
    podTemplate: Type.Optional(
      FreeForm({
        description:
          'Overrides merged into every worker pod template (metadata.labels/annotations, spec.nodeSelector, tolerations, affinity, …).',
      }),
    ),
  };
}

export const WorkerSchema = Type.Object(workerProperties({ maxItems: 128, maxLength: 4096 }), {
  description: 'The worker pods: one Deployment per shard.',
});

export const SidecarOfSchema = Type.Object(
  {
    kind: StringEnum(SIDECAR_KINDS, {
      description: 'Kind of the workload that owns the main queue.',
    }),
    name: Type.String({
      minLength: 1,
      pattern: DNS_LABEL,
      description: 'Its name, in the same namespace.',
    }),
  },
  { description: 'The workload whose pod the distributor joins as a native sidecar.' },
);

/** pino's levels, most verbose first. */
const DISTRIBUTOR_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export const DistributorSchema = Type.Object(
  {
    image: Type.Optional(
      Type.String({
        minLength: 1,
        description: "Distributor image; defaults to the operator's own image.",
      }),
    ),
    batchSize: Type.Integer({
      default: 100,
      minimum: 1,
      maximum: 10000,
      description: 'Messages moved per batch (one fsync per batch) (INI: batch_size).',
    }),
    metricsPort: Type.Integer({
      default: 9464,
      minimum: 1024,
      maximum: 65535,
      description: 'Port of /metrics, /load, /healthz and /readyz (INI: metrics_port).',
    }),
    placement: StringEnum(PLACEMENTS, {
      default: 'Standalone',
      description:
        'Standalone: its own Deployment <name>-distributor. Sidecar: joins the pod of distributor.sidecarOf.',
    }),
    sidecarOf: Type.Optional(SidecarOfSchema),
    resources: Type.Optional(Resources('CPU and memory of the distributor container.')),
    logLevel: Type.Optional(
      StringEnum(DISTRIBUTOR_LOG_LEVELS, {
        description: "The distributor's log level (its LOG_LEVEL); unset: info.",
      }),
    ),
  },
  {
    default: {},
    description: 'The distributor container that moves messages from the main queue to the shards.',
    ...celRules(
      {
        // has() guards: the API server also checks these rules against the bare `{}` default.
        rule: "!has(self.placement) || self.placement != 'Sidecar' || has(self.sidecarOf)",
        message: 'distributor.sidecarOf is required when distributor.placement is Sidecar',
        fieldPath: '.sidecarOf',
        reason: 'FieldValueRequired',
      },
      {
        rule: "(has(self.placement) && self.placement == 'Sidecar') || !has(self.sidecarOf)",
        message: 'distributor.sidecarOf is only allowed when distributor.placement is Sidecar',
        fieldPath: '.sidecarOf',
        reason: 'FieldValueForbidden',
      },
    ),
  },
);

const MATCH_CONDITIONS = ['minBytes', 'belowBytes', 'messageType', 'header', 'predicate'] as const;

// What the INI can hold as NAME=VALUE: no `=` in the name, no spaces around either (the INI
// trims them), nothing empty.
const PAIR_NAME = '^[^=\\s]([^=]*[^=\\s])?$';
const TRIMMED = '^\\S(.*\\S)?$';
// The largest integer the INI's numbers (JavaScript's) hold exactly.
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function nameValue(description: string) {
  return Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: 256, pattern: PAIR_NAME }),
      value: Type.String({ minLength: 1, maxLength: 1024, pattern: TRIMMED }),
    },
    { description },
  );
}

export const MatchSchema = Type.Object(
  {
    minBytes: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_SAFE,
        description: 'Payloads of at least this many bytes.',
      }),
    ),
    belowBytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_SAFE,
        description:
          'Payloads of fewer than this many bytes (tiers meet without overlap: 0–1Mi, 1Mi–16Mi, …).',
      }),
    ),
    messageType: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        pattern: TRIMMED,
        description:
          "The message type: the `type` header (nats), else a JSON payload's top-level `type`, else a Veda individual's rdf:type (for a change event, that of the individual in its new_state, or prev_state for a removal).",
      }),
    ),
    header: Type.Optional(
      nameValue("A header (nats) or a JSON payload's top-level field that equals value."),
    ),
    predicate: Type.Optional(
      nameValue('A Veda individual having this predicate with this value among its values.'),
    ),
  },
  {
    description:
      'What a message must have to go to this pool: every condition given holds. Pools are tried in order; the first match wins; an unmatched message goes to the default pool.',
    ...celRules(
      {
        rule: MATCH_CONDITIONS.map((c) => `has(self.${c})`).join(' || '),
        message: `a pool's match needs at least one condition: ${MATCH_CONDITIONS.join(', ')}`,
        reason: 'FieldValueRequired',
      },
      {
        rule: '!has(self.minBytes) || !has(self.belowBytes) || self.belowBytes > self.minBytes',
        message: 'match.belowBytes must be greater than match.minBytes',
        fieldPath: '.belowBytes',
      },
    ),
  },
);

export const BackpressureSchema = Type.Object(
  {
    maxBacklogPerShard: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: MAX_SAFE,
      description:
        'When every live shard holds at least this many messages, the distributor stops reading the main queue (0: off).',
    }),
    maxDiskBytes: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: MAX_SAFE,
      description:
        "veda: when the pool's shard queues use this many bytes on disk, the distributor stops reading the main queue (0: off).",
    }),
  },
  {
    description:
      'Limits that hold the main queue (which keeps every message) instead of filling the shard queues.',
  },
);

/**
 * A failure policy: spec.failure (the default pool's) or a pool's own. Its one CEL rule
 * compares two fields of one object, a constant cost even times MAX_POOLS.
 */
function failureSchema(description: string) {
  return Type.Object(
    {
      policy: StringEnum(FAILURE_POLICIES, {
        default: 'DeadLetter',
        description:
          'DeadLetter: a rejected message is retried with exponential backoff through the retry queue <shard queue>-retry, ' +
          'and after maxAttempts rejects it goes to the dead-letter queue <shard queue>-dlq (see `shard-distributor dlq`). ' +
          'Drop: retried the same way, then counted (shard_distributor_worker_rejected_total{outcome="dropped"}) and dropped. ' +
          'Block: retried in place after each backoff, never skipped: the shard stops until the handler takes it, ' +
          'for strict ordering (INI: failure_policy).',
      }),
      maxAttempts: Type.Integer({
        default: 5,
        minimum: 1,
        maximum: MAX_FAILURE_ATTEMPTS,
        description:
          'Rejects of one message before it is dead-lettered (DeadLetter) or dropped (Drop); Block ignores it (INI: max_attempts).',
      }),
      retryBackoffSeconds: PositiveNumber({
        default: 1,
        maximum: MAX_RETRY_BACKOFF_SECONDS,
        description:
          'Wait before the first retry; retry n waits retryBackoffSeconds * 2^(n-1), at most retryBackoffMaxSeconds (INI: retry_backoff_sec).',
      }),
      retryBackoffMaxSeconds: PositiveNumber({
        default: 300,
        maximum: MAX_RETRY_BACKOFF_SECONDS,
        description:
          'The longest wait between two retries; at least retryBackoffSeconds (INI: retry_backoff_max_sec).',
      }),
    },
    {
      description:
        `${description} What the workers do with a message their handler rejects (returns { reject } or throws). ` +
        'The workers get it as SD_POOL, SD_FAILURE_POLICY, SD_MAX_ATTEMPTS, SD_RETRY_BACKOFF_SEC and SD_RETRY_BACKOFF_MAX_SEC ' +
        "(these win over worker.env). Without a failure policy (neither spec.failure nor the pool's failure set) the workers " +
        'get the defaults: DeadLetter after 5 attempts, backoff 1 s doubling up to 300 s.',
      ...celRules({
        rule: 'self.retryBackoffMaxSeconds >= self.retryBackoffSeconds',
        message:
          'failure.retryBackoffMaxSeconds (default 300) must be greater than or equal to failure.retryBackoffSeconds; raise retryBackoffMaxSeconds or lower retryBackoffSeconds',
        fieldPath: '.retryBackoffMaxSeconds',
      }),
    },
  );
}

export const PoolSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: MAX_POOL_NAME,
      pattern: DNS_LABEL,
      description: `The pool's name (a DNS label, not ${DEFAULT_POOL}): its workers are <name>-<pool>-worker-<i> (INI: [pool.NAME]).`,
    }),
    match: MatchSchema,
    minWorkers: Type.Integer({
      default: 1,
      minimum: 1,
      maximum: MAX_WORKERS_LIMIT,
      description: "The pool's shards and worker Deployments to keep (INI: min_workers).",
    }),
    maxWorkers: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_WORKERS_LIMIT,
        description: "When set, the pool's worker count follows its own backlog.",
      }),
    ),
    targetBacklogPerWorker: Type.Integer({
      default: 1000,
      minimum: 1,
      maximum: 100_000_000,
      description: 'With maxWorkers: the backlog one of its workers should carry.',
    }),
    strategy: Type.Optional(
      StringEnum(STRATEGIES, {
        description: 'How a shard of the pool is picked; default spec.strategy.',
      }),
    ),
    subQueuePrefix: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: QUEUE_NAME,
        description:
          "The pool's shard i queue is <subQueuePrefix>-<i>; default <queue.subQueuePrefix>-<name>.",
        ...immutable(
          'pools[].subQueuePrefix',
          "the pool's shard queues' backlog would stay where no worker reads it",
        ),
      }),
    ),
    worker: Type.Optional(
      Type.Object(workerProperties({ maxItems: 32, maxLength: 1024 }), {
        description: "The pool's worker pods, a whole template; default spec.worker.",
      }),
    ),
    backpressure: Type.Optional(BackpressureSchema),
    failure: Type.Optional(
      failureSchema(
        "The pool's failure policy, as a whole: default spec.failure. Fields left out take the built-in defaults, not spec.failure's.",
      ),
    ),
  },
  {
    description: 'A worker pool besides the default one (the top-level fields).',
    ...celRules(
      {
        rule: `self.name != '${DEFAULT_POOL}'`,
        message: `pool name ${DEFAULT_POOL} is taken by the top-level fields; choose another name`,
        fieldPath: '.name',
      },
      {
        rule: '!has(self.maxWorkers) || self.maxWorkers >= self.minWorkers',
        message: "a pool's maxWorkers must be greater than or equal to its minWorkers",
        fieldPath: '.maxWorkers',
      },
      {
        // Set or left out for good: its default needs queue.subQueuePrefix, which a rule on
        // the pool cannot see, so setting or removing it is refused even when it would name
        // the same queues. (The field's own rule catches a change of its value.)
        rule: 'has(self.subQueuePrefix) == has(oldSelf.subQueuePrefix)',
        message: immutableMessage(
          'pools[].subQueuePrefix',
          "the pool's shard queues' backlog would stay where no worker reads it",
          'set or removed once the pool exists',
        ),
        fieldPath: '.subQueuePrefix',
        reason: 'FieldValueForbidden',
      },
    ),
  },
);

export const ShardDistributorSpecSchema = Type.Object(
  {
    queue: QueueSchema,
    minWorkers: Type.Integer({
      default: 4,
      minimum: 1,
      maximum: MAX_WORKERS_LIMIT,
      description:
        'Shards and worker Deployments to keep (INI: min_workers). The scale subresource sets it.',
    }),
    maxWorkers: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_WORKERS_LIMIT,
        description:
          'When set, the worker count follows the backlog between minWorkers and maxWorkers.',
      }),
    ),
    targetBacklogPerWorker: Type.Integer({
      default: 1000,
      minimum: 1,
      maximum: 100_000_000,
      description:
        'With maxWorkers: the backlog one worker should carry (workers = ceil(backlog / target)).',
    }),
    strategy: StringEnum(STRATEGIES, {
      default: 'ZeroLoadFirst',
      description: 'How the distributor picks a shard per message.',
    }),
    worker: WorkerSchema,
    distributor: DistributorSchema,
    backpressure: Type.Optional(BackpressureSchema),
    failure: Type.Optional(
      failureSchema(
        "The default pool's failure policy, and every pool's without one of its own (INI: [dispatcher]).",
      ),
    ),
    pools: Type.Optional(
      Type.Array(PoolSchema, {
        maxItems: MAX_POOLS,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        description:
          'Worker pools besides the default one, each with its own shard queues, workers and scaling; a message goes to the first pool whose match it meets, else to the default pool.',
      }),
    ),
    deletionPolicy: StringEnum(DELETION_POLICIES, {
      default: 'Drain',
      description:
        'On delete: Drain waits until every shard queue is empty; Abandon leaves the backlog on disk knowingly.',
    }),
  },
  {
    description: 'What to distribute, to how many workers, and how.',
    ...celRules({
      rule: '!has(self.maxWorkers) || self.maxWorkers >= self.minWorkers',
      message: 'spec.maxWorkers must be greater than or equal to spec.minWorkers',
      fieldPath: '.maxWorkers',
    }),
  },
);

export const ConditionSchema = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 316 }),
  status: StringEnum(['True', 'False', 'Unknown'] as const),
  reason: Type.String({ minLength: 1, maxLength: 1024 }),
  message: Type.String({ maxLength: 32768 }),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const ShardStatusSchema = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  queue: Type.String(),
  state: StringEnum(['Live', 'Draining', 'Drained'] as const),
  ready: Type.Boolean(),
  backlog: Type.Optional(Type.Integer({ minimum: 0 })),
  dispatched: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const PoolStatusSchema = Type.Object({
  name: Type.String(),
  workers: Type.Integer({ minimum: 0, description: "The pool's worker Deployments that exist." }),
  desiredWorkers: Type.Integer({
    minimum: 0,
    description: 'Worker count chosen by the operator (autoscaling included).',
  }),
  readyWorkers: Type.Integer({ minimum: 0 }),
  backlog: Type.Optional(
    Type.Integer({ minimum: 0, description: "Messages waiting in the pool's shard queues." }),
  ),
  shards: Type.Array(ShardStatusSchema, {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['index'],
  }),
});

export const ShardDistributorStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  workers: Type.Optional(
    Type.Integer({
      minimum: 0,
      description:
        "The default pool's worker Deployments that exist (the scale subresource reads it).",
    }),
  ),
  desiredWorkers: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: 'Worker count chosen by the operator (autoscaling included).',
    }),
  ),
  readyWorkers: Type.Optional(Type.Integer({ minimum: 0 })),
  backlog: Type.Optional(
    Type.Integer({
      minimum: 0,
      description:
        "Messages waiting in the default pool's shard queues (status.pools: the others').",
    }),
  ),
  selector: Type.Optional(
    Type.String({ description: 'Label selector of the worker pods (for the scale subresource).' }),
  ),
  shards: Type.Optional(
    Type.Array(ShardStatusSchema, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['index'],
    }),
  ),
  pools: Type.Optional(
    Type.Array(PoolStatusSchema, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'The pools of spec.pools, each as the top-level fields show the default pool.',
    }),
  ),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    }),
  ),
});

export type ShardDistributorSpecInput = Static<typeof ShardDistributorSpecSchema>;
export type ShardDistributorStatus = Static<typeof ShardDistributorStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type ShardStatus = Static<typeof ShardStatusSchema>;
export type PoolStatus = Static<typeof PoolStatusSchema>;
