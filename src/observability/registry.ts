import { collectDefaultMetrics, Registry } from 'prom-client';

/** A fresh registry with Node's process metrics (RSS, event loop lag, GC …). */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
