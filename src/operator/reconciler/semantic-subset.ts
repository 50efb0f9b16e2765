/**
 * Whether everything `desired` says is already true of `live`: the test that lets a steady
 * state make zero writes. Fields the server added (defaults, status, managedFields) are
 * ignored; lists must match item by item; quantities compare by value ("0.5" = "500m").
 */
export function isSemanticSubset(desired: unknown, live: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return sameScalar(desired, live);
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) &&
      desired.length === live.length &&
      desired.every((d, i) => isSemanticSubset(d, live[i]))
    );
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  const liveRecord = live as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([key, value]) =>
    isSemanticSubset(value, liveRecord[key]),
  );
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
