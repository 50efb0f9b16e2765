import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedConnectionKubeConfig } from '../../../src/operator/runtime/index.ts';
import { kubeConfig } from '../support.ts';

// undici announces every new connection on this channel (its diagnostics API).
const CONNECTED = 'undici:client:connected';

async function connectionsFor(kc: k8s.KubeConfig, requests: number): Promise<number> {
  let connections = 0;
  const count = () => connections++;
  subscribe(CONNECTED, count);
  try {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < requests; i++) await core.readNamespace({ name: 'default' });
    // And a few at once: they may open a connection each, but not one per later request.
    await Promise.all([1, 2, 3].map(() => core.readNamespace({ name: 'default' })));
    for (let i = 0; i < requests; i++) await core.readNamespace({ name: 'kube-system' });
  } finally {
    unsubscribe(CONNECTED, count);
  }
  return connections;
}

describe('SharedConnectionKubeConfig against the real API server', () => {
  const opened: SharedConnectionKubeConfig[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((kc) => kc.close()));
  });

  it('sends many requests over the connections it opened first, where client-node opens one per request', async () => {
    const plain = await connectionsFor(kubeConfig(), 10);
    const sharedKc = SharedConnectionKubeConfig.from(kubeConfig());
    opened.push(sharedKc);
    const shared = await connectionsFor(sharedKc, 10);
    console.log(`connections for 23 requests: client-node ${plain}, shared ${shared}`);
    // The baseline shows the channel counts what it should (one per request without sharing).
    expect(plain).toBe(23);
    expect(shared).toBeGreaterThanOrEqual(1);
    expect(shared).toBeLessThanOrEqual(3);
  });

  it('keeps the credentials and context of the KubeConfig it was made from', async () => {
    const source = kubeConfig();
    const sharedKc = SharedConnectionKubeConfig.from(source);
    opened.push(sharedKc);
    expect(sharedKc.getCurrentContext()).toBe(source.getCurrentContext());
    expect(sharedKc.getCurrentCluster()?.server).toBe(source.getCurrentCluster()?.server);
    const ns = await sharedKc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: 'default' });
    expect(ns.metadata?.name).toBe('default');
  });

  it('opens new connections after close (a stopped operator leaves none behind)', async () => {
    const sharedKc = SharedConnectionKubeConfig.from(kubeConfig());
    opened.push(sharedKc);
    expect(await connectionsFor(sharedKc, 2)).toBeLessThanOrEqual(3);
    await sharedKc.close();
    expect(await connectionsFor(sharedKc, 2)).toBeGreaterThanOrEqual(1);
  });
});
