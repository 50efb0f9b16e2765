import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../observability/index.ts';
import type { QueueMetrics } from '../metrics.ts';
import type { ResolvedOptions } from './options.ts';
import type { AckedPublisher } from './publisher.ts';

/** What every consumer and writer of one backend shares: one connection, one logger. */
export interface NatsContext {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  /** The writers' publishes, their acks on one subscription. */
  readonly publisher: AckedPublisher;
  readonly log: Logger;
  readonly metrics: QueueMetrics;
  readonly options: ResolvedOptions;
}

/** Where one queue lives. */
export interface QueueAddress {
  readonly queue: string;
  readonly stream: string;
  readonly subject: string;
}
