import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { observeWorker } from '../../../../src/operator/reconciler/reconciler.ts';

function deployment(
  status: NonNullable<V1Deployment['status']>,
  generation = 2,
  replicas = 1,
): V1Deployment {
  return {
    metadata: { name: 'w', generation },
    spec: { replicas } as V1Deployment['spec'],
    status,
  };
}

describe('observeWorker', () => {
  it('says a worker has rolled out as kubectl rollout status does', () => {
    const done = { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
    expect(observeWorker(0, deployment(done)).rolledOut).toBe(true);
    // Not seen by the controller yet; a new pod not available yet; an old pod still there.
    expect(observeWorker(0, deployment({ ...done, observedGeneration: 1 })).rolledOut).toBe(false);
    expect(observeWorker(0, deployment({ ...done, availableReplicas: 0 })).rolledOut).toBe(false);
    expect(observeWorker(0, deployment({ ...done, replicas: 2 })).rolledOut).toBe(false);
    // A stopped worker (0 replicas) is rolled out once its pods are gone.
    expect(observeWorker(0, deployment({ observedGeneration: 2 }, 2, 0)).rolledOut).toBe(true);
    expect(observeWorker(0, undefined)).toEqual({ shard: 0, exists: false });
  });

  it('calls a worker past its progress deadline failing, not rolling out', () => {
    const stalled = observeWorker(
      3,
      deployment({
        observedGeneration: 2,
        replicas: 1,
        updatedReplicas: 1,
        availableReplicas: 0,
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "w-1" has timed out progressing.',
          },
        ],
      }),
    );
    expect(stalled.failing).toBe('ReplicaSet "w-1" has timed out progressing.');
    expect(stalled).not.toHaveProperty('rolledOut');
  });
});
