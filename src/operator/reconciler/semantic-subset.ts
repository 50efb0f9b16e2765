/**
 * Whether everything `desired` says is already true of `live`: the test that lets a steady
 * state make zero writes. Fields the server added (defaults, status, managedFields) are
 * ignored; quantities compare by value ("0.5" = "500m"). A list of keyed items (containers,
 * env, volumes, mounts, ports) matches item by key, as server-side apply merges it, and may
 * hold items of others (a sidecar host's own containers, an env var someone added): applying
 * again would not remove them, only repeat itself. Any other list must match item by item.
 * Items we applied once and no longer want are not seen here: the applied-render annotation
 * (KubeWriter) catches a change of what we want.
 */
export function isSemanticSubset(desired: unknown, live: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return sameScalar(desired, live);
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return false;
    const keyed = keyedItems(desired);
    if (keyed !== undefined) {
      const liveKeyed = new Map(live.map((item) => [itemKey(item), item] as const));
      return [...keyed].every(([key, item]) => isSemanticSubset(item, liveKeyed.get(key)));
    }
    return desired.length === live.length && desired.every((d, i) => isSemanticSubset(d, live[i]));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  const liveRecord = live as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([key, value]) =>
    isSemanticSubset(value, liveRecord[key]),
  );
}

/**
 * The key server-side apply merges a list item by (its listMapKeys): a mount by its path (one
 * volume may be mounted twice), a port by number and protocol, anything else by name.
 */
function itemKey(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
  const fields = item as Record<string, unknown>;
  if (typeof fields['mountPath'] === 'string') return `mountPath=${fields['mountPath']}`;
  if (typeof fields['containerPort'] === 'number')
    return `port=${fields['containerPort']}/${String(fields['protocol'] ?? 'TCP')}`;
  if (typeof fields['name'] === 'string') return `name=${fields['name']}`;
  return undefined;
}

/** `items` by key, when every item has one and no two share it; else undefined. */
function keyedItems(items: readonly unknown[]): Map<string, unknown> | undefined {
  const byKey = new Map<string, unknown>();
  for (const item of items) {
    const key = itemKey(item);
    if (key === undefined || byKey.has(key)) return undefined;
    byKey.set(key, item);
  }
  return byKey.size > 0 ? byKey : undefined;
}

function sameScalar(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  const a = quantityValue(desired);
  const b = quantityValue(live);
  return a !== undefined && a === b;
}

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity's value, or undefined when it is not one. */
export function quantityValue(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$/.exec(value);
  if (!match) return undefined;
  const scale = SUFFIX[match[2] ?? ''];
  return scale === undefined ? undefined : Number(match[1]) * scale;
}
