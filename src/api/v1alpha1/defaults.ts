import { Value } from '@sinclair/typebox/value';
import { ShardDistributorError } from '../../errors.ts';
import { ShardDistributorSpecSchema } from './schema.ts';
import type { PoolSpec, ShardDistributorSpec } from './types.ts';

export class InvalidSpecError extends ShardDistributorError {
  readonly problems: string[];

  constructor(problems: string[]) {
    super('SD_ERR_SPEC_INVALID', `invalid ShardDistributor spec: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * Fills in the schema's defaults, as the API server does on admission, and checks the
 * result against the schema. For specs that did not come through an API server
 * (tests, `run` mode, the operator's own rendering).
 */
export function withDefaults(input: unknown): ShardDistributorSpec {
  const spec = Value.Default(ShardDistributorSpecSchema, structuredClone(input ?? {}));
  if (!Value.Check(ShardDistributorSpecSchema, spec)) {
    const problems = [...Value.Errors(ShardDistributorSpecSchema, spec)].map(
      (e) => `spec${e.path.replaceAll('/', '.')}: ${e.message}`,
    );
    throw new InvalidSpecError(problems);
  }
  return spec;
}

/**
 * `sd` with what its spec leaves out filled in from the schema's defaults, unchecked: what the
 * API server stores, also for an object stored before a CRD that knows a newer field (Helm
 * never upgrades a CRD). Without it an unset `deletionPolicy` would read as "not Drain" and a
 * deletion would let go of what is still queued.
 */
export function withSpecDefaults<T extends { spec: ShardDistributorSpec }>(sd: T): T {
  return { ...sd, spec: Value.Default(ShardDistributorSpecSchema, structuredClone(sd.spec)) };
}

/** Shard queue i is `<prefix>-<i>`; the prefix defaults to `<mainQueue>-shard`. */
export function subQueuePrefixOf(spec: ShardDistributorSpec): string {
  return spec.queue.subQueuePrefix ?? `${spec.queue.mainQueue}-shard`;
}

/** A pool's shard queue i is `<prefix>-<i>`; the prefix defaults to `<default pool's prefix>-<pool>`. */
export function poolSubQueuePrefixOf(spec: ShardDistributorSpec, pool: PoolSpec): string {
  return pool.subQueuePrefix ?? `${subQueuePrefixOf(spec)}-${pool.name}`;
}
