import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { kubectl, kubectlOk, useNamespace } from '../support.ts';
import { CHART_DIR, helmCluster, helmOk, uninstallIfPresent } from './helm.ts';

/**
 * NOTES.txt's command for a CRD upgrade, run as written against a CRD that Helm created (its
 * crds/ directory, the way a plain `helm install` goes): Helm owns every field of it then, so
 * a server-side apply that changes one conflicts unless it takes the fields over.
 */
const NOTES = readFileSync(`${CHART_DIR}/templates/NOTES.txt`, 'utf8');
const DOCUMENTED = /^\s*helm show crds <chart> --version <version> \| kubectl (.+)$/m.exec(NOTES);

const ns = useNamespace('crd-upgrade');
const dir = mkdtempSync(join(tmpdir(), 'sd-crd-upgrade-'));
let release = '';
let crdName = '';
afterEach(() => {
  if (release) uninstallIfPresent(release, ns.name);
  if (crdName) kubectl(['delete', 'crd', crdName, '--ignore-not-found', '--wait=false']);
  rmSync(dir, { recursive: true, force: true });
});

it('upgrades a CRD that helm install created with the command NOTES.txt gives', () => {
  expect(DOCUMENTED, 'NOTES.txt gives the upgrade command').not.toBeNull();
  // The chart's own CRD under a group of its own, so the cluster's ShardDistributors are untouched.
  const crd = parse(
    readFileSync(`${CHART_DIR}/crds/shards.veda.dev_sharddistributors.yaml`, 'utf8'),
  );
  const group = `t${randomBytes(4).toString('hex')}.shards.veda.dev`;
  crd.spec.group = group;
  crd.metadata.name = `${crd.spec.names.plural}.${group}`;
  crdName = crd.metadata.name;
  const chart = join(dir, 'chart');
  mkdirSync(join(chart, 'crds'), { recursive: true });
  writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: crd-upgrade\nversion: 0.1.0\n');
  const write = () => writeFileSync(join(chart, 'crds', 'crd.yaml'), stringify(crd));
  write();
  release = `crd-${randomBytes(3).toString('hex')}`;
  helmOk(['install', release, chart, '--namespace', ns.name]);
  // Helm created it (the API server owns only its status).
  const managers = kubectlOk([
    'get',
    'crd',
    crdName,
    '-o',
    'jsonpath={.metadata.managedFields[*].manager}',
  ]).split(' ');
  expect(managers).toContain('helm');
  expect(managers.filter((m) => m !== 'helm' && m !== 'kube-apiserver')).toEqual([]);

  // The next chart version changes the schema.
  crd.spec.versions[0].schema.openAPIV3Schema.description = 'the upgraded CRD';
  write();
  const shown = helmCluster(['show', 'crds', chart]);
  expect(shown.status, shown.stderr).toBe(0);
  // Without taking the fields over, the apply is refused: why the command says so.
  const plain = kubectl(['apply', '--server-side', '-f', '-'], { input: shown.stdout });
  expect(plain.status).not.toBe(0);
  expect(plain.stderr).toMatch(/conflict/i);

  const documented = kubectl(DOCUMENTED![1]!.split(' '), { input: shown.stdout });
  expect(documented.stderr).toBe('');
  expect(documented.status).toBe(0);
  expect(
    kubectlOk([
      'get',
      'crd',
      crdName,
      '-o',
      'jsonpath={.spec.versions[0].schema.openAPIV3Schema.description}',
    ]),
  ).toBe('the upgraded CRD');
});
