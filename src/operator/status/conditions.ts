import type { Condition } from '../../api/index.ts';

export type ConditionStatus = Condition['status'];

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

/** metav1.Time's form: RFC 3339 in UTC, whole seconds. */
export function kubernetesTime(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * The conditions with `update` set: lastTransitionTime moves only when the status changes,
 * other conditions and their order stay, a new type goes last.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const previous = index < 0 ? undefined : list[index];
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message,
    lastTransitionTime:
      previous !== undefined && previous.status === update.status
        ? previous.lastTransitionTime
        : kubernetesTime(now),
    ...(update.observedGeneration === undefined
      ? {}
      : { observedGeneration: update.observedGeneration }),
  };
  if (index < 0) list.push(next);
  else list[index] = next;
  return list;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
