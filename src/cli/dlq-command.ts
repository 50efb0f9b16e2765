import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_POOL_NAME,
  loadConfigFile,
  poolShardSet,
  shardSet,
  type DistributorConfig,
  type Env,
} from '../config/index.ts';
import { silentLogger } from '../observability/index.ts';
import {
  copiedLookupOf,
  createNatsBackend,
  createVedaBackend,
  decodeEnvelope,
  finishMove,
  moveBatch,
  MoveJournal,
  QueueNotFoundError,
  type EnvelopeHeader,
  type MoveContext,
  type MoveEntry,
  type MoveFailpoint,
  type MoveItem,
  type QueueBackend,
  type QueueConsumer,
  type QueueWriter,
} from '../queue/index.ts';
import {
  deadLetterQueueOf,
  encodeOutputLine,
  poolDeadLetterQueueOf,
  replayQueueOf,
} from '../worker/index.ts';
import { interruptedExitCode, shutdownSignal } from './signals.ts';
import { UsageError } from './usage-error.ts';

/** The consumer `dlq` reads every dead-letter queue as. */
export const DLQ_ADMIN_CONSUMER = 'dlq-admin';
const READ_BATCH = 500;
const PREVIEW_CHARS = 120;
/** `list` reads at most this many dead letters to count reasons: a DLQ can hold millions. */
const REASONS_OF_DEFAULT = 10_000;

export const DLQ_USAGE = `shard-distributor dlq <list|show|replay|purge> --config FILE [--pool NAME] [options]

The dead letters of one worker pool (--pool, default "default"): for each of its shards i,
live and draining (veda: and any taken out since, whose queue is still there),
<sub_queue_prefix>-<i>-dlq (what its worker's handler rejected max_attempts times), and
<sub_queue_prefix>-dlq (what the distributor dead-lettered).
Each holds envelopes: the reason, the attempts, the original shard and the original
payload. They are read as consumer "${DLQ_ADMIN_CONSUMER}"; --queue QUEUE limits a command
to one of them (or to <sub_queue_prefix>-<i>-dlq of any shard i). veda: the dead-letter
queues are in [worker] worker_base_path. SIGINT or SIGTERM stops replay and purge between
batches (exit 128 + the signal's number); nothing is lost, and a second run goes on.

  list [-n N]               messages waiting per queue, and a count by reason of the
                            first N (default ${REASONS_OF_DEFAULT}) dead letters
  show [-n N]               the first N (default 10) envelopes: header and payload preview;
                            moves nothing
  replay                    moves every dead letter, as its original payload, into
                            <main_queue_name>-replay (veda: beside the shard queues), which
                            the distributor routes like the main queue. Exactly once: a
                            replay stopped midway is finished by the next one. One replay
                            at a time (veda: a second one fails on the writer lock).
  purge --yes               drops them: says how many, then moves "${DLQ_ADMIN_CONSUMER}" past them

  --json                    list and show: JSON instead of text`;

interface Options {
  config?: string;
  pool?: string;
  queue?: string;
  n?: string;
  json?: boolean;
  yes?: boolean;
}

export interface DlqCommandOptions {
  /** Where output goes (default stdout). */
  readonly write?: (text: string) => void;
  /** Tests: throw here to play a crash of `replay` at that step. */
  readonly failpoint?: (name: MoveFailpoint) => void;
  /**
   * SIGINT/SIGTERM: replay and purge stop between batches (each batch is whole). Default:
   * the process's own signals, taken over for replay and purge only.
   */
  readonly signal?: AbortSignal;
}

/** What `dlq` works on: the backends, the pool's dead-letter queues and the replay queue. */
interface Target {
  readonly pool: string;
  readonly queues: readonly string[];
  readonly replayQueue: string;
  /**
   * Where the dead-letter queues and the replay queue live: with the shard queues (the
   * distributor reads the replay queue there).
   */
  readonly backend: QueueBackend;
  /** veda: the replay journal, beside the replay queue. */
  readonly journal?: MoveJournal;
  close(): Promise<void>;
}

export async function dlqCommand(
  argv: string[],
  env: Env,
  options: DlqCommandOptions = {},
): Promise<number> {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  let parsed: { values: Options; positionals: string[] };
  try {
    parsed = parseArgs({
      // The action may come anywhere: `dlq list --config f` or `dlq --config f list`.
      args: argv,
      options: {
        config: { type: 'string' },
        pool: { type: 'string' },
        queue: { type: 'string' },
        n: { type: 'string', short: 'n' },
        json: { type: 'boolean' },
        yes: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }) as { values: Options; positionals: string[] };
  } catch (err) {
    throw new UsageError((err as Error).message, DLQ_USAGE);
  }
  const { values } = parsed;
  const [action, ...positionals] = parsed.positionals;
  if (!action || !['list', 'show', 'replay', 'purge'].includes(action)) {
    throw new UsageError(`unknown dlq action "${action ?? ''}"`, DLQ_USAGE);
  }
  if (positionals.length > 0)
    throw new UsageError(`unexpected argument "${positionals[0]}"`, DLQ_USAGE);
  if (values.config === undefined) throw new UsageError('--config FILE is required', DLQ_USAGE);
  const count =
    values.n === undefined ? (action === 'list' ? REASONS_OF_DEFAULT : 10) : Number(values.n);
  if (!Number.isInteger(count) || count < 1)
    throw new UsageError(`-n ${values.n} is not a whole number >= 1`, DLQ_USAGE);

  const config = await loadConfigFile(values.config, {
    env,
    log: silentLogger,
    createIfMissing: false,
  });
  // replay and purge stop between batches; list and show are ended by the first signal.
  const signal =
    options.signal ?? (action === 'replay' || action === 'purge' ? shutdownSignal() : undefined);
  const target = await targetFor(config, values.pool ?? DEFAULT_POOL_NAME, values.queue);
  try {
    switch (action) {
      case 'list':
        await list(target, count, values.json === true, write);
        return 0;
      case 'show':
        await show(target, count, values.json === true, write);
        return 0;
      case 'replay':
        await replay(target, write, options.failpoint, signal);
        return exitCode(0, signal);
      default:
        return exitCode(await purge(target, values.yes === true, write, signal), signal);
    }
  } finally {
    await target.close();
  }
}

/** `code`, unless a signal stopped the command before it was done. */
function exitCode(code: number, signal: AbortSignal | undefined): number {
  return signal?.aborted ? interruptedExitCode(signal) : code;
}

async function targetFor(
  config: DistributorConfig,
  pool: string,
  only: string | undefined,
): Promise<Target> {
  let prefix: string;
  let shards: readonly number[];
  if (pool === DEFAULT_POOL_NAME) {
    prefix = config.worker.subQueuePrefix;
    const set = shardSet(config);
    shards = [...set.live, ...set.draining];
  } else {
    const found = config.pools.find((p) => p.name === pool);
    if (!found) {
      const known = [DEFAULT_POOL_NAME, ...config.pools.map((p) => p.name)].join(', ');
      throw new UsageError(
        `--pool ${pool} is not a pool of this config; use one of ${known}`,
        DLQ_USAGE,
      );
    }
    prefix = found.subQueuePrefix;
    const set = poolShardSet(found);
    shards = [...set.live, ...set.draining];
  }
  const backend = await backendFor(config);
  // A shard taken out of the config keeps its dead-letter queue (its worker is gone, its
  // dead letters are not): veda finds them in the directory; on nats, --queue names one.
  const ofShard = new RegExp(`^${escapeRegExp(prefix)}-(\\d+)-dlq$`);
  const named = new Set(shards);
  const removed = ((await backend.queues?.().catch(() => [])) ?? [])
    .map((queue) => Number(ofShard.exec(queue)?.[1] ?? Number.NaN))
    .filter((shard) => Number.isSafeInteger(shard) && !named.has(shard));
  const all = [
    ...[...new Set([...shards, ...removed])]
      .sort((a, b) => a - b)
      .map((i) => deadLetterQueueOf(`${prefix}-${i}`)),
    poolDeadLetterQueueOf(prefix),
  ];
  if (only !== undefined && !all.includes(only) && !ofShard.test(only)) {
    await backend.close();
    throw new UsageError(
      `--queue ${only} is not a dead-letter queue of pool ${pool}; its queues are ${all.join(', ')} (or ${prefix}-<shard>-dlq of a shard taken out)`,
      DLQ_USAGE,
    );
  }
  const replayQueue = replayQueueOf(config.dispatcher.mainQueueName);
  const worker = config.worker;
  return {
    pool,
    queues: only === undefined ? all : [only],
    replayQueue,
    backend,
    ...(config.dispatcher.backend === 'veda'
      ? {
          journal: new MoveJournal(
            join(worker.workerBasePath, `${replayQueue}_sd_journal_${DLQ_ADMIN_CONSUMER}`),
          ),
        }
      : {}),
    close: () => backend.close(),
  };
}

/** The backend holding the dead-letter queues and the replay queue: the shard queues'. */
async function backendFor(config: DistributorConfig): Promise<QueueBackend> {
  const { dispatcher, worker, nats } = config;
  if (dispatcher.backend === 'nats' && nats) {
    return createNatsBackend({
      ...nats,
      mainQueue: dispatcher.mainQueueName,
      logger: silentLogger,
      name: 'shard-distributor dlq',
    });
  }
  // The distributor reads the replay queue with its shard queues: same directory.
  return createVedaBackend({ basePath: worker.workerBasePath, logger: silentLogger });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Up to `limit` dead letters `dlq-admin` would read next; a queue not created yet has none. */
async function peekDeadLetters(
  backend: QueueBackend,
  queue: string,
  limit: number,
): Promise<Buffer[]> {
  try {
    return await backend.peek(queue, limit, DLQ_ADMIN_CONSUMER);
  } catch (err) {
    if (err instanceof QueueNotFoundError) return [];
    throw err;
  }
}

async function waiting(backend: QueueBackend, queue: string): Promise<number> {
  return backend.backlog(queue, DLQ_ADMIN_CONSUMER, { startAt: 'oldest' });
}

type Described =
  | { readonly header: EnvelopeHeader; readonly payload: Buffer }
  | { readonly problem: string; readonly payload: Buffer };

function describe(data: Buffer): Described {
  try {
    return decodeEnvelope(data);
  } catch (err) {
    return { problem: (err as Error).message, payload: data };
  }
}

async function list(
  target: Target,
  reasonsOf: number,
  json: boolean,
  write: (text: string) => void,
): Promise<void> {
  const queues: { queue: string; messages: number }[] = [];
  const reasons = new Map<string, number>();
  let counted = 0;
  for (const queue of target.queues) {
    const messages = await waiting(target.backend, queue);
    queues.push({ queue, messages });
    const toCount = Math.min(messages, reasonsOf - counted);
    if (toCount <= 0) continue;
    for (const data of await peekDeadLetters(target.backend, queue, toCount)) {
      const d = describe(data);
      const reason = 'header' in d ? d.header.reason : `(not an envelope: ${d.problem})`;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      counted += 1;
    }
  }
  const total = queues.reduce((sum, q) => sum + q.messages, 0);
  const byReason = [...reasons.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([reason, messages]) => ({ reason, messages }));
  if (json) {
    const listing = {
      pool: target.pool,
      total,
      queues,
      reasonsCounted: counted,
      reasons: byReason,
    };
    write(`${JSON.stringify(listing, null, 2)}\n`);
    return;
  }
  const width = Math.max(5, ...queues.map((q) => q.queue.length));
  const lines = [
    `dead letters of pool ${target.pool}: ${total}`,
    '',
    `${'QUEUE'.padEnd(width)}  MESSAGES`,
  ];
  for (const q of queues) lines.push(`${q.queue.padEnd(width)}  ${q.messages}`);
  if (byReason.length > 0) {
    const of = counted < total ? ` (of the first ${counted}; -n N counts more)` : '';
    lines.push('', `MESSAGES  REASON${of}`);
    for (const r of byReason) lines.push(`${String(r.messages).padEnd(8)}  ${r.reason}`);
  }
  write(`${lines.join('\n')}\n`);
}

async function show(
  target: Target,
  count: number,
  json: boolean,
  write: (text: string) => void,
): Promise<void> {
  const shown: { queue: string; header?: EnvelopeHeader; problem?: string; payload: string }[] = [];
  for (const queue of target.queues) {
    if (shown.length >= count) break;
    for (const data of await peekDeadLetters(target.backend, queue, count - shown.length)) {
      const d = describe(data);
      const payload = encodeOutputLine(d.payload);
      shown.push({
        queue,
        ...('header' in d ? { header: d.header } : { problem: d.problem }),
        payload: payload.length > PREVIEW_CHARS ? `${payload.slice(0, PREVIEW_CHARS)}…` : payload,
      });
    }
  }
  if (json) {
    write(`${JSON.stringify(shown, null, 2)}\n`);
    return;
  }
  if (shown.length === 0) {
    write(`no dead letters in pool ${target.pool}\n`);
    return;
  }
  const blocks = shown.map((s) => {
    const h = s.header;
    const lines = [`${s.queue}:`];
    if (h) {
      lines.push(
        `  reason:   ${h.reason}`,
        `  kind:     ${h.kind}, ${h.attempts} attempt(s), shard ${h.shard}, pool ${h.pool}`,
        `  failed:   first ${h.firstFailedAt}, last ${h.lastFailedAt}`,
      );
    } else {
      lines.push(`  not an envelope: ${s.problem ?? ''}`);
    }
    lines.push(`  payload:  ${s.payload}`);
    return lines.join('\n');
  });
  write(`${blocks.join('\n\n')}\n`);
}

/**
 * Moves each dead-letter queue into the replay queue, batch by batch, each batch journalled
 * (veda) or sent with its dead-letter position as message id (nats) so a crash between the
 * flush and the commit never replays it twice. A journal left by a stopped replay is finished
 * first.
 */
async function replay(
  target: Target,
  write: (text: string) => void,
  failpoint: ((name: MoveFailpoint) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  const writer: QueueWriter = await target.backend.openWriter(target.replayQueue);
  const alreadyCopied = copiedLookupOf(target.backend);
  const context: MoveContext = {
    ...(target.journal ? { journal: target.journal } : {}),
    writers: new Map([[target.replayQueue, writer]]),
    // nats: what a replay that died before its commit already stored is not stored again.
    ...(alreadyCopied ? { alreadyCopied } : {}),
    ...(failpoint ? { failpoint } : {}),
  };
  try {
    const interrupted = await target.journal?.read();
    if (interrupted) await finishInterruptedReplay(interrupted, target, context, write);
    let total = 0;
    for (const queue of target.queues) {
      if (signal?.aborted) break;
      let consumer: QueueConsumer;
      try {
        consumer = await target.backend.openConsumer(queue, DLQ_ADMIN_CONSUMER);
      } catch (err) {
        if (err instanceof QueueNotFoundError) continue;
        throw err;
      }
      let moved = 0;
      try {
        while (!signal?.aborted) {
          const batch = await consumer.read(READ_BATCH);
          if (batch.messages.length === 0) {
            await consumer.commit(batch.next);
            break;
          }
          // The original payload; bytes that are no envelope go back as they are.
          const items: MoveItem[] = batch.messages.map((m, index) =>
            'header' in describe(m.data) ? { index, unwrap: true } : { index },
          );
          await moveBatch(context, consumer, batch, [{ queue: target.replayQueue, items }]);
          moved += batch.messages.length;
        }
      } finally {
        await consumer.close();
      }
      if (moved > 0) write(`replayed ${moved} message(s) from ${queue}\n`);
      total += moved;
    }
    write(`replayed ${total} message(s) of pool ${target.pool} into ${target.replayQueue}\n`);
    if (signal?.aborted) {
      write(
        `stopped by ${String(signal.reason)} before the end; the rest stays in its dead-letter queue: run replay again to go on\n`,
      );
    }
  } finally {
    await writer.close();
  }
}

/**
 * Finishes the batch of a replay a crash interrupted (veda: its journal), before anything else
 * moves `dlq-admin`: a purge that moved it first would leave a journal no later replay can
 * match to the consumer's position.
 */
async function finishInterruptedReplay(
  entry: MoveEntry,
  target: Target,
  context: MoveContext,
  write: (text: string) => void,
): Promise<void> {
  const source = await target.backend.openConsumer(entry.source, DLQ_ADMIN_CONSUMER);
  try {
    const result = await finishMove(context, entry, source);
    if (result === 'finished') {
      write(`finished an interrupted replay of ${entry.count} message(s) from ${entry.source}\n`);
    }
  } finally {
    await source.close();
  }
}

async function purge(
  target: Target,
  yes: boolean,
  write: (text: string) => void,
  signal: AbortSignal | undefined,
): Promise<number> {
  const interrupted = yes ? await target.journal?.read() : undefined;
  if (interrupted && target.journal) {
    const writer = await target.backend.openWriter(target.replayQueue);
    try {
      const context = { journal: target.journal, writers: new Map([[target.replayQueue, writer]]) };
      await finishInterruptedReplay(interrupted, target, context, write);
    } finally {
      await writer.close();
    }
  }
  const counts: { queue: string; messages: number }[] = [];
  for (const queue of target.queues) {
    counts.push({ queue, messages: await waiting(target.backend, queue) });
  }
  const total = counts.reduce((sum, c) => sum + c.messages, 0);
  if (!yes) {
    write(
      `would purge ${total} dead letter(s) of pool ${target.pool}` +
        `${counts
          .filter((c) => c.messages > 0)
          .map((c) => `\n  ${c.queue}: ${c.messages}`)
          .join('')}\n` +
        'nothing purged: add --yes to purge them\n',
    );
    return total === 0 ? 0 : 1;
  }
  let purged = 0;
  for (const { queue, messages } of counts) {
    if (signal?.aborted) break;
    if (messages === 0) continue;
    const consumer = await target.backend.openConsumer(queue, DLQ_ADMIN_CONSUMER);
    // Only as many as were counted: what arrived since is left for the next look.
    let left = messages;
    try {
      while (left > 0 && !signal?.aborted) {
        const batch = await consumer.read(Math.min(READ_BATCH, left));
        if (batch.messages.length === 0) break;
        await consumer.commit(batch.next);
        left -= batch.messages.length;
      }
    } finally {
      await consumer.close();
    }
    purged += messages - left;
    write(`purged ${messages - left} message(s) from ${queue}\n`);
  }
  write(`purged ${purged} dead letter(s) of pool ${target.pool}\n`);
  if (signal?.aborted) write(`stopped by ${String(signal.reason)} before the end\n`);
  return 0;
}
