import type { QueueBackend } from '../queue/index.ts';
import type { BatchJournal } from './journal.ts';

/** The queues a distributor works on, as opened from its config. */
export interface DistributorBackends {
  main: QueueBackend;
  shards: QueueBackend;
  journal?: BatchJournal;
  close(): Promise<void>;
}
