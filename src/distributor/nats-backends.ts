import type { Registry } from 'prom-client';
import type { DistributorConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import { createNatsBackend } from '../queue/index.ts';
import type { DistributorBackends } from './backends-type.ts';

/**
 * The nats backend serves the main stream and the shard subjects from one connection.
 * JetStream drops a replayed publish by its message id (the main-queue position), so no
 * journal is needed: a batch re-read after a crash is published again and stored once. For
 * the same reason commits are pipelined: a commit's acknowledgement is confirmed while the
 * next batch moves, and a crash before it is confirmed is one more batch re-read and dropped.
 */
export async function openNatsBackends(
  config: DistributorConfig,
  log: Logger,
  registry: Registry,
): Promise<DistributorBackends> {
  if (!config.nats)
    throw new Error('backend nats needs a [nats] section (the INI loader checks this)');
  const backend = await createNatsBackend({
    ...config.nats,
    mainQueue: config.dispatcher.mainQueueName,
    pipelineCommits: true,
    logger: log,
    registry,
  });
  return { main: backend, shards: backend, close: () => backend.close() };
}
