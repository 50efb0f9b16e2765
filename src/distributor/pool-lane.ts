import type {
  BackpressureConfig,
  DistributorConfig,
  Strategy as StrategyName,
} from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import type { QueueBackend, QueueWriter } from '../queue/index.ts';
import type { JournalShard } from './journal.ts';
import { DEFAULT_POOL, poolShardsOf, type PoolShards } from './pool-shards.ts';
import { ShardMoves } from './shard-moves.ts';
import { ShardTable, type Shard } from './shard-table.ts';
import {
  createStrategy,
  firstKeyOf,
  keyFromHeader,
  keyFromJsonField,
  keyFromVedaIndividual,
  type Strategy,
} from './strategies/index.ts';

/** How one pool picks its shards and when it is full: the live part of its config. */
export interface PoolPolicy {
  readonly strategy: StrategyName;
  readonly keyField?: string;
  readonly limits: BackpressureConfig | undefined;
}

/**
 * A pool's dead-letter queue `<prefix>-dlq`, which the distributor writes (expired messages);
 * workers dead-letter into queues of their own shard.
 */
export interface DeadLetterTarget {
  readonly deadLetter: true;
  readonly pool: string;
  readonly queue: string;
}

/** The dead-letter queue of the pool whose shard queues are `<prefix>-<i>`. */
export function deadLetterQueueName(prefix: string): string {
  return `${prefix}-dlq`;
}

/** One worker pool as the loop drives it: its shards, the moves out of its removed shards, its strategy. */
export interface PoolLane {
  readonly name: string;
  readonly shards: ShardTable;
  readonly deadLetters: DeadLetterTarget;
  readonly moves: ShardMoves;
  strategy: Strategy;
  policy: PoolPolicy;
}

export interface PoolLanesOptions {
  /** Where the shard queues are. */
  backend: QueueBackend;
  /** The workers' consumer name (`{src}`), which moves read removed shards as. */
  workerConsumer: string;
  /** The workers' move journals' directory (veda); absent: workers keep none (nats). */
  workerJournalDir?: string;
  random: () => number;
  log: Logger;
}

/**
 * The worker pools of one distributor: the default pool, then the `[pool.NAME]` ones in file
 * order. The set of pools is fixed for the life of the process (changing it needs a restart);
 * each pool's shard set, strategy and limits change live.
 */
export class PoolLanes {
  private readonly options: PoolLanesOptions;
  private readonly lanes = new Map<string, PoolLane>();
  /** Writers of dead-letter queues, by queue name, opened on first use. */
  private readonly deadLetterWriters = new Map<string, QueueWriter>();
  /** Tables of pools a journal names that the config no longer has (recovery only). */
  private readonly orphans = new Map<string, ShardTable>();

  constructor(options: PoolLanesOptions, config: DistributorConfig) {
    this.options = options;
    const policies = policiesOf(config);
    for (const spec of poolShardsOf(config)) {
      const policy = policies.get(spec.pool)!;
      const shards = new ShardTable(options.backend, spec);
      const moves = new ShardMoves({
        shards,
        backend: options.backend,
        workerConsumer: options.workerConsumer,
        ...(options.workerJournalDir === undefined
          ? {}
          : { workerJournalDir: options.workerJournalDir }),
        log: options.log,
      });
      this.lanes.set(spec.pool, {
        name: spec.pool,
        shards,
        deadLetters: { deadLetter: true, pool: spec.pool, queue: deadLetterQueueName(spec.prefix) },
        moves,
        strategy: this.strategyFor(policy),
        policy,
      });
    }
  }

  all(): PoolLane[] {
    return [...this.lanes.values()];
  }

  get(pool: string): PoolLane | undefined {
    return this.lanes.get(pool);
  }

  /** The table holding `pool`'s shards, even for a pool the config dropped (journal recovery). */
  tableFor(pool: string | undefined): ShardTable {
    const name = pool ?? DEFAULT_POOL;
    const lane = this.lanes.get(name);
    if (lane) return lane.shards;
    let table = this.orphans.get(name);
    if (!table) {
      table = new ShardTable(this.options.backend, {
        pool: name,
        prefix: '',
        live: [],
        draining: [],
        moving: [],
      });
      this.orphans.set(name, table);
    }
    return table;
  }

  /** Every shard of every pool that has a queue named `queue`. */
  findByQueue(queue: string): Shard | undefined {
    for (const table of [...this.lanes.values()].map((l) => l.shards)) {
      const shard = table.all().find((s) => s.queue === queue);
      if (shard) return shard;
    }
    return undefined;
  }

  /**
   * Applies a config's shard sets, strategies and limits to the pools this process has.
   * Returns what changed per pool, for the log.
   */
  async apply(
    config: DistributorConfig,
  ): Promise<Record<string, Awaited<ReturnType<ShardTable['apply']>>>> {
    const policies = policiesOf(config);
    const specs = new Map<string, PoolShards>(poolShardsOf(config).map((s) => [s.pool, s]));
    const changes: Record<string, Awaited<ReturnType<ShardTable['apply']>>> = {};
    for (const lane of this.lanes.values()) {
      const spec = specs.get(lane.name);
      const policy = policies.get(lane.name);
      // A pool dropped from the config keeps its shards until a restart applies the new set.
      if (!spec || !policy) continue;
      changes[lane.name] = await lane.shards.apply(spec);
      if (policy.strategy !== lane.policy.strategy || policy.keyField !== lane.policy.keyField) {
        lane.strategy = this.strategyFor(policy);
      }
      lane.policy = policy;
    }
    return changes;
  }

  /** The writer a journalled target is written with: a shard's, or a dead-letter queue's. */
  writerOf(
    target: Pick<JournalShard, 'pool' | 'deadLetter' | 'index' | 'queue'>,
  ): Promise<QueueWriter> {
    if (target.deadLetter) return this.deadLetterWriter(target.queue);
    return this.tableFor(target.pool).writerFor(target.index, target.queue);
  }

  /** After a failed write: a fresh writer (the old one may be in an unknown state). */
  async reopenWriterOf(
    target: Pick<JournalShard, 'pool' | 'deadLetter' | 'index' | 'queue'>,
  ): Promise<QueueWriter> {
    if (target.deadLetter) return this.reopenDeadLetterWriter(target.queue);
    const table = this.tableFor(target.pool);
    try {
      return await table.reopenWriter(target.index);
    } catch {
      return table.writerFor(target.index, target.queue);
    }
  }

  /** The writer of a dead-letter queue (named by a lane or by a journal). */
  async deadLetterWriter(queue: string): Promise<QueueWriter> {
    let writer = this.deadLetterWriters.get(queue);
    if (!writer) {
      writer = await this.options.backend.openWriter(queue);
      this.deadLetterWriters.set(queue, writer);
    }
    return writer;
  }

  /** Replaces a dead-letter writer after a failure. */
  async reopenDeadLetterWriter(queue: string): Promise<QueueWriter> {
    await this.deadLetterWriters
      .get(queue)
      ?.close()
      .catch(() => undefined);
    this.deadLetterWriters.delete(queue);
    return this.deadLetterWriter(queue);
  }

  async close(): Promise<void> {
    for (const writer of this.deadLetterWriters.values()) await writer.close();
    this.deadLetterWriters.clear();
    for (const lane of this.lanes.values()) {
      await lane.moves.close();
      await lane.shards.close();
    }
    for (const table of this.orphans.values()) await table.close();
  }

  private strategyFor(policy: PoolPolicy): Strategy {
    // key_field names a header (nats) or a top-level field of a JSON payload; without it the
    // key is the Veda individual's URI.
    const keyOf = policy.keyField
      ? firstKeyOf(keyFromHeader(policy.keyField), keyFromJsonField(policy.keyField))
      : keyFromVedaIndividual;
    return createStrategy(policy.strategy, { random: this.options.random, keyOf });
  }
}

function policiesOf(config: DistributorConfig): Map<string, PoolPolicy> {
  const d = config.dispatcher;
  return new Map<string, PoolPolicy>([
    [
      DEFAULT_POOL,
      {
        strategy: d.strategy,
        ...(d.keyField === undefined ? {} : { keyField: d.keyField }),
        limits: config.backpressure,
      },
    ],
    ...config.pools.map(
      (p) =>
        [
          p.name,
          {
            strategy: p.strategy,
            ...(p.keyField === undefined ? {} : { keyField: p.keyField }),
            limits: p.backpressure,
          },
        ] as const,
    ),
  ]);
}
