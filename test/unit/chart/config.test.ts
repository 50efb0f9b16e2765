import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/tools.ts';
import { kustomize, ofKind, onlyOfKind, type Manifest } from './helm.ts';

const SLOW = 30_000;
const DEFAULT = `${REPO_ROOT}config/default`;
const PART_OF = 'app.kubernetes.io/part-of';
const IMAGE = 'ghcr.io/veda-project/shard-distributor:0.1.0';

function operatorContainer(manifests: Manifest[]) {
  return onlyOfKind(manifests, 'Deployment').spec.template.spec.containers[0];
}

function operatorImageVariable(manifests: Manifest[]): string | undefined {
  return operatorContainer(manifests).env.find((e: { name: string }) => e.name === 'OPERATOR_IMAGE')
    ?.value;
}

describe('config/default (kubectl-only install)', { timeout: SLOW }, () => {
  let manifests: Manifest[];
  beforeAll(() => {
    manifests = kustomize(DEFAULT);
  }, SLOW);

  it('labels everything the documented uninstall deletes, but neither the namespace nor the CRD', () => {
    const labelled = manifests
      .filter((m) => m.metadata.labels?.[PART_OF] === 'shard-distributor')
      .map((m) => m.kind)
      .sort();
    expect(labelled).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    const namespace = onlyOfKind(manifests, 'Namespace');
    expect(namespace.metadata.name).toBe('shard-distributor-system');
    expect(namespace.metadata.labels).toEqual({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    expect(onlyOfKind(manifests, 'CustomResourceDefinition').metadata.labels?.[PART_OF]).toBe(
      undefined,
    );
  });

  it('gives the operator pods the part-of and managed-by labels, as the chart does', () => {
    const deployment = onlyOfKind(manifests, 'Deployment');
    expect(deployment.spec.template.metadata.labels).toEqual({
      'app.kubernetes.io/name': 'shard-distributor',
      'app.kubernetes.io/component': 'operator',
      'app.kubernetes.io/part-of': 'shard-distributor',
      'app.kubernetes.io/managed-by': 'kustomize',
    });
    expect(deployment.metadata.labels).toEqual(deployment.spec.template.metadata.labels);
  });

  it('leaves the Deployment selector as manager.yaml writes it (selectors are immutable)', () => {
    const deployment = onlyOfKind(manifests, 'Deployment');
    expect(deployment.spec.selector).toEqual({
      matchLabels: {
        'app.kubernetes.io/name': 'shard-distributor',
        'app.kubernetes.io/component': 'operator',
      },
    });
    expect(onlyOfKind(manifests, 'Service').spec.selector).toEqual(
      deployment.spec.selector.matchLabels,
    );
  });

  it('names the image once for the container and once in OPERATOR_IMAGE, never in an argument', () => {
    const container = operatorContainer(manifests);
    expect(container.image).toBe(IMAGE);
    expect(operatorImageVariable(manifests)).toBe(IMAGE);
    expect(container.args).not.toContain('--distributor-image');
    expect(JSON.stringify(container.args)).not.toContain('ghcr.io');
  });
});

describe('an images: entry in an overlay of config/default', { timeout: SLOW }, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sd-kustomize-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function overlay(image: Record<string, string>): Manifest[] {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      JSON.stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(dir, DEFAULT)],
        images: [{ name: 'ghcr.io/veda-project/shard-distributor', ...image }],
      }),
    );
    return kustomize(dir);
  }

  it('changes the operator image and the distributors\u2019 default image together', () => {
    const manifests = overlay({ newName: 'registry.example/sd', newTag: '0.2.0' });
    expect(operatorContainer(manifests).image).toBe('registry.example/sd:0.2.0');
    expect(operatorImageVariable(manifests)).toBe('registry.example/sd:0.2.0');
  });

  it('pins both by digest', () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const manifests = overlay({ digest });
    expect(operatorContainer(manifests).image).toBe(
      `ghcr.io/veda-project/shard-distributor@${digest}`,
    );
    expect(operatorImageVariable(manifests)).toBe(
      `ghcr.io/veda-project/shard-distributor@${digest}`,
    );
  });

  it('leaves every other variable alone', () => {
    const manifests = overlay({ newTag: '9.9.9' });
    const base = kustomize(DEFAULT);
    const others = (m: Manifest[]) =>
      operatorContainer(m).env.filter((e: { name: string }) => e.name !== 'OPERATOR_IMAGE');
    expect(others(manifests)).toEqual(others(base));
    expect(ofKind(manifests, 'Deployment')).toHaveLength(1);
  });
});
