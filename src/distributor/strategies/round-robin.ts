import { BatchLoad, nextInRotation } from './batch-load.ts';
import type { Strategy } from './types.ts';

/** Each shard in turn, by index, skipping stuck shards; backlog is ignored. */
export function roundRobin(): Strategy {
  let last: number | undefined;
  return {
    name: 'RoundRobin',
    assign(messages, shards) {
      const batch = new BatchLoad(shards);
      return messages.map(() => {
        last = batch.assign(nextInRotation(batch, last));
        return last;
      });
    },
  };
}
