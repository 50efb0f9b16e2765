import { BatchLoad, leastLoaded as pickLeastLoaded } from './batch-load.ts';
import type { Strategy } from './types.ts';

/** The shard with the lowest effective backlog; ties broken round-robin, not by lowest index. */
export function leastLoaded(): Strategy {
  let last: number | undefined;
  return {
    name: 'LeastLoaded',
    assign(messages, shards) {
      const batch = new BatchLoad(shards);
      return messages.map(() => {
        last = batch.assign(pickLeastLoaded(batch, last));
        return last;
      });
    },
  };
}
