import { describe, expect, it } from 'vitest';
import { scaledUpMessage, scalingDownMessage } from '../../../../src/operator/status/index.ts';

describe('the scaling Events', () => {
  it('say one worker, not one workers', () => {
    expect(scaledUpMessage('', 0, 1, 'minWorkers 1')).toBe(
      'scaled up from 0 to 1 worker: minWorkers 1',
    );
    expect(scalingDownMessage('pool large ', 2, 1, 'minWorkers 1', [1])).toBe(
      'pool large scaling down from 2 to 1 worker: minWorkers 1; shard 1 drains first',
    );
  });

  it('say workers and shards for more than one', () => {
    expect(scaledUpMessage('pool large ', 2, 4, 'why')).toBe(
      'pool large scaled up from 2 to 4 workers: why',
    );
    expect(scalingDownMessage('', 4, 2, 'why', [2, 3])).toBe(
      'scaling down from 4 to 2 workers: why; shards 2, 3 drain first',
    );
    expect(scalingDownMessage('', 2, 0, 'why', [0, 1])).toBe(
      'scaling down from 2 to 0 workers: why; shards 0, 1 drain first',
    );
  });
});
