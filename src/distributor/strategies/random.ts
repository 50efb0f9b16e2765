import { BatchLoad } from './batch-load.ts';
import type { Strategy } from './types.ts';

/** Uniform over the live shards that are not stuck, drawing from the injected `random`. */
export function randomStrategy(random: () => number): Strategy {
  return {
    name: 'Random',
    assign(messages, shards) {
      const batch = new BatchLoad(shards);
      const n = batch.candidates.length;
      return messages.map(() => {
        const drawn = Math.floor(random() * n);
        // A generator that returns 1 (or NaN) must not push us outside the live set.
        const offset = Number.isFinite(drawn) ? Math.min(Math.max(drawn, 0), n - 1) : 0;
        return batch.assign(batch.candidateAt(offset));
      });
    },
  };
}
