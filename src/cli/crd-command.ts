import { stringify } from 'yaml';
import { shardDistributorCrd } from '../api/index.ts';

/** Prints the ShardDistributor CRD, for `shard-distributor crd | kubectl apply -f -`. */
export function crdCommand(): void {
  process.stdout.write(stringify(shardDistributorCrd(), { lineWidth: 0 }));
}
