import { STRATEGIES } from '../../api/index.ts';

/** The balancing strategies, by the names the CRD's `strategy` and the INI use (one list, in api/). */
export type StrategyName = (typeof STRATEGIES)[number];

export const STRATEGY_NAMES: readonly StrategyName[] = STRATEGIES;

/**
 * One live shard as a strategy sees it. Only live shards are passed in: a shard being removed
 * (draining) is left out, which is how it stops receiving.
 */
export interface ShardView {
  readonly index: number;
  /** Last measured backlog (pushed − popped, or pending + ack-pending). */
  readonly backlog: number;
  /** Reported by the stuck detector: backlog non-zero and nothing popped for a while. */
  readonly stuck: boolean;
}

export interface Message {
  readonly data: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Extracts the routing key of a message for KeyHash; `undefined` when it has none. */
export type KeyOf = (message: Message) => string | undefined;

export interface Strategy {
  readonly name: StrategyName;
  /**
   * Picks a shard for each message of one batch: the result holds one shard index per message,
   * always one of `shards`. Throws `NoLiveShardError` when `shards` is empty.
   */
  assign(messages: readonly Message[], shards: readonly ShardView[]): number[];
}

export interface StrategyOptions {
  /** Uniform in [0, 1); required by Random. Injected so tests can seed it. */
  readonly random?: () => number;
  /** KeyHash's key; defaults to the URI of a Veda individual. */
  readonly keyOf?: KeyOf;
}
