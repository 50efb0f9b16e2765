import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FAKE_NODE } from '../harness/control-plane.ts';
import { eventually, kubeConfig, kubectlOk, useNamespace } from './support.ts';

describe('the test control plane', () => {
  const ns = useNamespace('cp');

  it('runs the pods of a Deployment through the controller manager, the scheduler and kwok', async () => {
    const kc = kubeConfig();
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const labels = { app: 'hello' };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: 'hello' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'hello', image: 'registry.example/hello:1' }] },
          },
        },
      },
    });
    const pods = await eventually(
      async () => {
        const list = await core.listNamespacedPod({
          namespace: ns.name,
          labelSelector: 'app=hello',
        });
        const running = list.items.filter((p) => p.status?.phase === 'Running');
        if (running.length !== 2) throw new Error(`${running.length}/2 pods Running`);
        return running;
      },
      { timeoutMs: 60_000, description: 'two Running pods' },
    );
    expect(pods.every((p) => p.spec?.nodeName === FAKE_NODE)).toBe(true);
    await eventually(
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'hello', namespace: ns.name });
        if (d.status?.readyReplicas !== 2)
          throw new Error(`readyReplicas ${d.status?.readyReplicas}`);
      },
      { timeoutMs: 60_000, description: 'Deployment ready' },
    );
  });

  it('answers kubectl with a server of the same version as the client', () => {
    const version = JSON.parse(kubectlOk(['version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toBe('v1.37.2');
    expect(version.clientVersion.gitVersion).toBe('v1.37.2');
  });
});
