import type { KubernetesObject } from '@kubernetes/client-node';

/** Whether an update event should wake the controller (controller-runtime's predicates). */
export type UpdatePredicate = (oldObj: KubernetesObject, newObj: KubernetesObject) => boolean;

/**
 * An update to anything but the status: a new generation (the spec), or metadata a reconcile
 * acts on (labels, annotations, finalizers, a deletion). controller-runtime's
 * GenerationChangedPredicate, widened to the metadata that has no generation.
 *
 * Why: the controller's own status write is an update too. The status carries the backlog, so
 * under traffic every write would wake the next reconcile, whose /load read brings a new
 * backlog and another write: a loop as fast as the round trips. Status is refreshed on the
 * requeue instead. A resync (the same object twice) always passes.
 */
export const specOrMetadataChanged: UpdatePredicate = (oldObj, newObj) => {
  const before = oldObj.metadata ?? {};
  const after = newObj.metadata ?? {};
  if (before.resourceVersion === after.resourceVersion) return true;
  return (
    before.generation !== after.generation ||
    String(before.deletionTimestamp ?? '') !== String(after.deletionTimestamp ?? '') ||
    !sameJson(before.labels, after.labels) ||
    !sameJson(before.annotations, after.annotations) ||
    !sameJson(before.finalizers, after.finalizers)
  );
};

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
