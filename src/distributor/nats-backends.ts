import type { Registry } from 'prom-client';
import type { DistributorConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import type { DistributorBackends } from './backends-type.ts';

/**
 * The nats backend serves the main stream and the shard subjects from one connection;
 * JetStream drops replayed publishes by message id, so no journal is needed.
 */
export async function openNatsBackends(
  config: DistributorConfig,
  _log: Logger,
  _registry: Registry,
): Promise<DistributorBackends> {
  throw new Error(
    `the nats backend is not wired into the distributor yet (nats url ${config.nats?.url ?? 'unset'})`,
  );
}
