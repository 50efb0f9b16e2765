import type { Registry } from 'prom-client';
import type { DistributorConfig } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';
import { createVedaBackend, QueueTimeoutError } from '../queue/index.ts';
import { Backoff, sleep } from './backoff.ts';
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

/**
 * `openBackends`, waiting for a backend that cannot be reached yet (a NATS server down or
 * still starting) rather than exit and crash-loop: each such failure is logged when its
 * reason changes, and tried again with backoff until it opens or `signal` fires.
 */
export async function openBackendsWhenReachable(
  config: DistributorConfig,
  log: Logger,
  registry: Registry,
  signal: AbortSignal,
  backoff = new Backoff(1_000, 30_000),
): Promise<DistributorBackends> {
  let said: string | undefined;
  for (;;) {
    try {
      return await openBackends(config, log, registry);
    } catch (error) {
      // Only a server that does not answer; a missing file or refused credentials fail now.
      if (!(error instanceof QueueTimeoutError) || signal.aborted) throw error;
      if (error.message !== said) {
        said = error.message;
        log.warn({ err: error }, 'cannot open the queue backend yet; retrying');
      }
      await sleep(backoff.next(), signal);
      // Stopped while waiting: what kept it from opening is the answer.
      if (signal.aborted) throw error;
    }
  }
}
