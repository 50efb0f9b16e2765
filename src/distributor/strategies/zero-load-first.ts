import { BatchLoad, nextInRotation } from './batch-load.ts';
import type { Strategy } from './types.ts';

/**
 * The original rule, done right: the first idle shard scanning from a rotating start, else
 * round-robin. The start moves past every pick, so several idle shards share the work instead
 * of the lowest index taking it all.
 */
export function zeroLoadFirst(): Strategy {
  let last: number | undefined;
  return {
    name: 'ZeroLoadFirst',
    assign(messages, shards) {
      const batch = new BatchLoad(shards);
      return messages.map(() => {
        const start = batch.rotationStart(last);
        let chosen = nextInRotation(batch, last);
        for (let i = 0; i < batch.candidates.length; i++) {
          const position = batch.candidateAt(start + i);
          if (batch.loadAt(position) === 0) {
            chosen = position;
            break;
          }
        }
        last = batch.assign(chosen);
        return last;
      });
    },
  };
}
