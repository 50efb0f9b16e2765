export { createNatsBackend } from './backend.ts';
export { QueueConflictError } from './errors.ts';
export { messageIdOf } from './message-id.ts';
export type { NatsBackendOptions } from './options.ts';
