import { BatchLoad } from './batch-load.ts';
import type { Strategy } from './types.ts';

/**
 * The original rule, done right: the first idle shard scanning from a rotating start, else
 * round-robin over the shards that keep up. The start moves past every pick, so several idle
 * shards share the work instead of the lowest index taking it all. The original's plain
 * round-robin fallback gave a slow worker its full share whenever no shard was idle (all of
 * the time under steady load), so its backlog grew without bound; a shard further above the
 * mean backlog than its share of one batch now sits out the rotation until it catches up.
 */
export function zeroLoadFirst(): Strategy {
  let last: number | undefined;
  return {
    name: 'ZeroLoadFirst',
    assign(messages, shards) {
      const batch = new BatchLoad(shards);
      // A shard's share of this batch: measured backlogs that differ by this much are noise
      // (they are up to one refresh old), and those shards take turns as usual.
      const slack = Math.ceil(messages.length / batch.candidates.length);
      return messages.map(() => {
        const start = batch.rotationStart(last);
        last = batch.assign(firstIdle(batch, start) ?? firstKeepingUp(batch, start, slack));
        return last;
      });
    },
  };
}

function firstIdle(batch: BatchLoad, start: number): number | undefined {
  for (let i = 0; i < batch.candidates.length; i++) {
    const position = batch.candidateAt(start + i);
    if (batch.loadAt(position) === 0) return position;
  }
  return undefined;
}

/** The next shard in rotation whose backlog is at most `slack` above the mean. */
function firstKeepingUp(batch: BatchLoad, start: number, slack: number): number {
  const loads = batch.candidates.map((position) => batch.loadAt(position));
  const limit = loads.reduce((sum, load) => sum + load, 0) / loads.length + slack;
  for (let i = 0; i < batch.candidates.length; i++) {
    const position = batch.candidateAt(start + i);
    if (batch.loadAt(position) <= limit) return position;
  }
  // Unreachable (some shard is at or below the mean), but never drop a message for it.
  return batch.candidateAt(start);
}
