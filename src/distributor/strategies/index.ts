import { StrategyOptionError } from './errors.ts';
import { keyHash } from './key-hash.ts';
import { leastLoaded } from './least-loaded.ts';
import { randomStrategy } from './random.ts';
import { roundRobin } from './round-robin.ts';
import type { Strategy, StrategyName, StrategyOptions } from './types.ts';
import { keyFromVedaIndividual } from './veda-key.ts';
import { zeroLoadFirst } from './zero-load-first.ts';

export { STRATEGY_NAMES } from './types.ts';
export type {
  KeyOf,
  Message,
  ShardView,
  Strategy,
  StrategyName,
  StrategyOptions,
} from './types.ts';
export { DuplicateShardError, NoLiveShardError, StrategyOptionError } from './errors.ts';
export {
  firstKeyOf,
  keyFromHeader,
  keyFromJsonField,
  keyFromVedaIndividual,
  vedaIndividualUri,
} from './veda-key.ts';

/** A fresh strategy; it keeps only its own rotation cursor between batches. */
export function createStrategy(name: StrategyName, options: StrategyOptions = {}): Strategy {
  switch (name) {
    case 'ZeroLoadFirst':
      return zeroLoadFirst();
    case 'LeastLoaded':
      return leastLoaded();
    case 'RoundRobin':
      return roundRobin();
    case 'KeyHash':
      return keyHash(options.keyOf ?? keyFromVedaIndividual);
    case 'Random':
      if (options.random === undefined) {
        throw new StrategyOptionError(
          'The Random strategy needs a random() source; pass options.random (e.g. Math.random).',
        );
      }
      return randomStrategy(options.random);
    default: {
      const unknown: never = name;
      throw new StrategyOptionError(
        `Unknown strategy ${JSON.stringify(unknown)}; use one of ZeroLoadFirst, LeastLoaded, RoundRobin, KeyHash, Random.`,
      );
    }
  }
}
