import type { Registry } from 'prom-client';
import type { FailureConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import type { QueueBackend } from '../queue/index.ts';
import type { MoveFailpoint } from '../queue/index.ts';

/**
 * What a handler returns. Nothing (or undefined) means handled; `{ reject: reason }` means the
 * message cannot be handled (the worker's failure policy decides: retry later, dead-letter,
 * drop or block). A handler that throws rejects with the error's message, unless it throws a
 * WorkerInfrastructureError (then the worker stops and the message comes again).
 */
export type HandlerResult = void | undefined | { readonly reject: string };

export interface MessageContext {
  readonly queue: string;
  readonly consumer: string;
  /** 1 the first time a message is handled, 2 on its first retry, and so on. */
  readonly attempt: number;
  /**
   * The message's headers where the backend has them (nats: as published to the main queue,
   * first value of each, JetStream's own `Nats-*` ones aside from the shard's `Nats-Msg-Id`);
   * absent on veda and for a message without headers.
   */
  readonly headers?: MessageHeaders;
  /**
   * Fires when the worker is asked to stop: the messages after this one are left for the next
   * worker, so a long handler may cut its own work short (and throw, or let it be redone).
   */
  readonly signal?: AbortSignal;
}

export type MessageHeaders = Readonly<Record<string, string>>;

export type MessageHandler = (
  message: Uint8Array,
  context: MessageContext,
) => Promise<HandlerResult> | HandlerResult;

/**
 * The failure policy (`[dispatcher]` / `[pool.NAME]` failure keys, as a worker reads them
 * from `SD_*` with `failureFromEnv`) and what the worker needs to apply it.
 */
export interface WorkerFailureOptions extends FailureConfig {
  /** The worker pool, written into envelopes (default `default`). */
  readonly pool?: string;
  /**
   * Directory of the worker's move journal (the shard queues' directory). Required on veda,
   * which does not deduplicate: without it a crash between the flush of a reject and the
   * commit of its batch would move the reject twice.
   */
  readonly journalDir?: string;
}

/** Where a test can play a crash: the move steps, and `before-commit` of a batch without rejects. */
export type WorkerFailpoint = MoveFailpoint;

export interface RunWorkerOptions {
  readonly backend: QueueBackend;
  /** The shard queue to consume. */
  readonly queue: string;
  /** The consumer name (the original template's `--src`). */
  readonly consumer: string;
  readonly handler: MessageHandler;
  /** Pause when the queue is empty (or not created yet) before reading again. */
  readonly sleepEmptySec: number;
  /** Messages per read (default 100). */
  readonly batchSize?: number;
  /** Called after a batch is handled and before it is committed: flush what the handlers buffered. */
  readonly beforeCommit?: () => Promise<void> | void;
  /** Abort to stop: the message in hand is finished, and what was handled is committed. */
  readonly signal: AbortSignal;
  readonly log?: Logger;
  /**
   * Rejects are retried through `<queue>-retry` and end in `<queue>-dlq` (or dropped, or
   * block the shard). Absent: a handler that throws or rejects stops the worker without
   * committing its batch (WorkerHandlerError), as before failure policies existed.
   */
  readonly failure?: WorkerFailureOptions;
  /** Where `shard_distributor_worker_rejected_total` is registered. */
  readonly registry?: Registry;
  /** Tests: the clock (ms since the epoch). */
  readonly now?: () => number;
  /** Tests: throw from here to play a crash at that step of moving rejects. */
  readonly failpoint?: (name: WorkerFailpoint) => void;
}

export interface WorkerReport {
  /** Messages of the shard queue handled (or rejected) and committed. */
  readonly processed: number;
  readonly batches: number;
  /** With a failure policy: rejects by outcome. */
  readonly rejected?: {
    readonly retry: number;
    readonly deadLetter: number;
    readonly dropped: number;
    readonly blocked: number;
  };
}
