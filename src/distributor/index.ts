export { Distributor } from './distributor.ts';
export type { DistributorOptions } from './distributor.ts';
export type { LoadReport } from './load.ts';
export { BatchJournal } from './journal.ts';
export { failpointFromSpec, PROTOCOL_STEPS } from './failpoints.ts';
export type { Failpoint, ProtocolStep } from './failpoints.ts';
export { JournalMismatchError, JournalCorruptError } from './errors.ts';
export { watchConfig } from './config-watch.ts';
