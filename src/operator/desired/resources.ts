import type { V1ResourceRequirements } from '@kubernetes/client-node';

type Quantities = Record<string, string | number>;

function quantities(values: Quantities): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([name, q]) => [name, String(q)]));
}

/** The spec's resources (quantities as string or number) as a container's resources. */
export function resourcesFor(
  spec: { limits?: Quantities; requests?: Quantities } | undefined,
): V1ResourceRequirements | undefined {
  if (spec === undefined) return undefined;
  return {
    ...(spec.limits === undefined ? {} : { limits: quantities(spec.limits) }),
    ...(spec.requests === undefined ? {} : { requests: quantities(spec.requests) }),
  };
}
