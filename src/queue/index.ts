export type {
  AppendOptions,
  QueueStat,
  ConsumerOptions,
  JsonValue,
  QueueBackend,
  QueueConsumer,
  QueueMark,
  QueueMessage,
  QueuePosition,
  QueueWriter,
  ReadBatch,
  StartAt,
  WriterOptions,
} from './types.ts';
export {
  QueueClosedError,
  QueueConnectionClosedError,
  QueueCorruptError,
  QueueError,
  QueueFullError,
  fromFsError,
  QueueLockedError,
  QueueMessageTooLargeError,
  QueueNotFoundError,
  QueuePermissionError,
  QueuePositionError,
  QueueTimeoutError,
} from './errors.ts';
export { copiedLookupOf, type CachedCopiedLookup, type CopiedLookup } from './copied-lookup.ts';
export { queueMetrics } from './metrics.ts';
export type { QueueMetrics } from './metrics.ts';
export { createVedaBackend } from './veda/backend.ts';
export type { VedaBackendOptions } from './veda/backend.ts';
export { statVedaQueue } from './veda/stat.ts';
export type { VedaQueueStat } from './veda/stat.ts';
export { createNatsBackend, QueueConflictError, messageIdOf } from './nats/index.ts';
export type { NatsBackendOptions } from './nats/index.ts';
export {
  decodeEnvelope,
  encodeEnvelope,
  isEnvelope,
  EnvelopeError,
  ENVELOPE_MAGIC,
  MAX_REASON_CHARS,
} from './envelope.ts';
export type { Envelope, EnvelopeHeader, EnvelopeKind } from './envelope.ts';
export {
  batchDigest,
  clearJournalFile,
  fsyncDir,
  samePosition,
  unstoredOf,
  writeJournalFile,
} from './batch-files.ts';
export { finishMove, moveBatch, MoveJournal, MoveJournalError } from './move-journal.ts';
export type {
  MoveContext,
  MoveEntry,
  MoveFailpoint,
  MoveItem,
  MoveTarget,
} from './move-journal.ts';
