import type { Registry } from 'prom-client';
import type { DistributorConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import { createVedaBackend } from '../queue/index.ts';
import type { DistributorBackends } from './backends-type.ts';
import { BatchJournal } from './journal.ts';

export type { DistributorBackends } from './backends-type.ts';

/** The queue backends a config names: veda (two directories and a journal) or nats. */
export async function openBackends(
  config: DistributorConfig,
  log: Logger,
  registry: Registry,
): Promise<DistributorBackends> {
  const { dispatcher, worker } = config;
  if (dispatcher.backend === 'nats') {
    const { openNatsBackends } = await import('./nats-backends.ts');
    return openNatsBackends(config, log, registry);
  }
  const main = createVedaBackend({
    basePath: dispatcher.basePath,
    durable: dispatcher.durable,
    logger: log,
    registry,
  });
  const shards =
    worker.workerBasePath === dispatcher.basePath
      ? main
      : createVedaBackend({
          basePath: worker.workerBasePath,
          durable: dispatcher.durable,
          logger: log,
          registry,
        });
  return {
    main,
    shards,
    journal: BatchJournal.forQueue(
      dispatcher.basePath,
      dispatcher.mainQueueName,
      dispatcher.consumerName,
    ),
    async close() {
      await main.close();
      if (shards !== main) await shards.close();
    },
  };
}
