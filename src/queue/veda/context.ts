import type { Logger } from '../../observability/index.ts';
import type { QueueMetrics } from '../metrics.ts';

/** What every part of the veda backend shares: where the queues live, and where to report. */
export interface VedaContext {
  readonly base: string;
  readonly log: Logger;
  readonly metrics: QueueMetrics;
}
