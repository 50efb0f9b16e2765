import { describe, expect, it } from 'vitest';
import { kubernetesTime, setCondition } from '../../../../src/operator/status/index.ts';

const t0 = new Date('2025-01-01T10:00:00.123Z');
const t1 = new Date('2025-01-01T10:05:00.456Z');

describe('setCondition', () => {
  const first = setCondition(
    undefined,
    { type: 'Ready', status: 'False', reason: 'WorkersNotReady', message: '0 of 4 ready' },
    t0,
  );

  it('adds a new condition stamped now, in whole seconds', () => {
    expect(first).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'WorkersNotReady',
        message: '0 of 4 ready',
        lastTransitionTime: '2025-01-01T10:00:00Z',
      },
    ]);
  });

  it('keeps lastTransitionTime while the status holds, even as the message changes', () => {
    const next = setCondition(
      first,
      { type: 'Ready', status: 'False', reason: 'WorkersNotReady', message: '2 of 4 ready' },
      t1,
    );
    expect(next[0]).toMatchObject({
      message: '2 of 4 ready',
      lastTransitionTime: kubernetesTime(t0),
    });
  });

  it('moves lastTransitionTime when the status changes', () => {
    const next = setCondition(
      first,
      { type: 'Ready', status: 'True', reason: 'AllWorkersReady', message: 'ok' },
      t1,
    );
    expect(next[0]?.lastTransitionTime).toBe('2025-01-01T10:05:00Z');
  });

  it('leaves other conditions and their order alone and does not mutate its input', () => {
    const two = setCondition(
      first,
      {
        type: 'Degraded',
        status: 'False',
        reason: 'AsExpected',
        message: '',
        observedGeneration: 2,
      },
      t0,
    );
    const updated = setCondition(
      two,
      { type: 'Ready', status: 'True', reason: 'AllWorkersReady', message: 'ok' },
      t1,
    );
    expect(updated.map((c) => c.type)).toEqual(['Ready', 'Degraded']);
    expect(updated[1]).toEqual(two[1]);
    expect(two[1]?.observedGeneration).toBe(2);
    expect(first).toHaveLength(1);
    expect(first[0]?.status).toBe('False');
  });
});
