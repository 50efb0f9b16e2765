import type { Registry } from 'prom-client';
import type { NatsConfig } from '../../config/index.ts';
import type { Logger } from '../../observability/index.ts';

/**
 * The INI's `[nats]` section (url, main_stream, shard_stream, credentials_file) plus what the
 * backend needs from the rest of the config and the process.
 */
export interface NatsBackendOptions extends NatsConfig {
  /** The main queue (`main_queue_name`): its subject lives in `mainStream`, every other queue's in `shardStream`. */
  readonly mainQueue: string;
  /** Connection name shown by the server (`nats server report connections`). */
  readonly name?: string;
  readonly logger?: Logger;
  readonly registry?: Registry;
  /** Subjects of the main stream: `<prefix>.<queue>` (default `sd.<mainStream>`). */
  readonly mainSubjectPrefix?: string;
  /** Subjects of the shard stream: `<prefix>.<queue>` (default `sd.<shardStream>`). */
  readonly shardSubjectPrefix?: string;
  /**
   * Duplicate window of streams this backend creates (default 5 minutes). A replayed publish
   * (same msgID) within it is dropped: a publish retried after a timeout is stored once. A
   * restarted distributor or worker does not depend on it: it reads back what it stored
   * uncommitted (copiedAfter). Costs server memory per message published in the window.
   */
  readonly duplicateWindowMs?: number;
  /** Replicas of streams this backend creates (default 1; 3 on a JetStream cluster). */
  readonly replicas?: number;
  /** Consumers created here: redeliver a read message not committed within this time (default 60 s). */
  readonly ackWaitMs?: number;
  /** Consumers created here: most messages read and not yet committed (default 10 000). */
  readonly maxAckPending?: number;
  /** One JetStream request: pull, ack, info (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** `flush` retries unacknowledged publishes (same msgIDs) until this much time has passed (default 30 s). */
  readonly flushTimeoutMs?: number;
  /**
   * Consumers' `commit` sends the acknowledgement and returns without waiting for the server
   * to confirm it; the next commit, `waitForNew`, `rewind` or `close` waits for that
   * confirmation (and fails as the commit would have). Saves a round trip per batch. A crash
   * in between leaves the ack floor one commit behind, so the next reader gets that batch
   * again: only for a reader whose writes are idempotent — the distributor, whose shard
   * publishes JetStream deduplicates by msgID (default false).
   */
  readonly pipelineCommits?: boolean;
}

/**
 * Subjects default to `sd.<stream>.<queue>`: each stream owns the subjects under its own name,
 * so several ShardDistributors can share one NATS server with streams of their own.
 */
export function defaultSubjectPrefix(stream: string): string {
  return `sd.${stream}`;
}
/** Shorter than this, a restarting distributor may republish what the shard stream already has. */
export const MIN_DUPLICATE_WINDOW_MS = 2 * 60_000;

export interface ResolvedOptions {
  readonly servers: string[];
  readonly mainQueue: string;
  readonly mainStream: string;
  readonly shardStream: string;
  readonly mainSubjectPrefix: string;
  readonly shardSubjectPrefix: string;
  readonly duplicateWindowMs: number;
  readonly replicas: number;
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  readonly requestTimeoutMs: number;
  readonly flushTimeoutMs: number;
  readonly pipelineCommits: boolean;
}

/** `url` may list several servers, comma-separated, as the INI does. */
export function resolveOptions(options: NatsBackendOptions): ResolvedOptions {
  const servers = options.url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (servers.length === 0) throw new RangeError('nats url is empty: set [nats] url in the INI');
  return {
    servers,
    mainQueue: options.mainQueue,
    mainStream: options.mainStream,
    shardStream: options.shardStream,
    mainSubjectPrefix: options.mainSubjectPrefix ?? defaultSubjectPrefix(options.mainStream),
    shardSubjectPrefix: options.shardSubjectPrefix ?? defaultSubjectPrefix(options.shardStream),
    duplicateWindowMs: options.duplicateWindowMs ?? 5 * 60_000,
    replicas: options.replicas ?? 1,
    ackWaitMs: options.ackWaitMs ?? 60_000,
    maxAckPending: options.maxAckPending ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    flushTimeoutMs: options.flushTimeoutMs ?? 30_000,
    pipelineCommits: options.pipelineCommits ?? false,
  };
}
