import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GROUP, PLURAL, VERSION } from '../../src/api/index.ts';
import { REPO_ROOT } from '../harness/tools.ts';
import { kubeConfig, useNamespace } from './support.ts';

const DIR = join(REPO_ROOT, 'test', 'fixtures', 'bad-sd');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

// Second line of each file: `# expect: /regex/` — what the API server's message must say.
function expectation(text: string): RegExp {
  const match = /^# expect: \/(.+)\/$/m.exec(text);
  if (!match?.[1]) throw new Error('fixture lacks its "# expect: /regex/" line');
  return new RegExp(match[1]);
}

let tried = 0;
afterAll(() => console.log(`bad-sd corpus: ${tried} malformed ShardDistributors rejected`));

describe('the malformed ShardDistributor corpus (test/fixtures/bad-sd) on a real API server', () => {
  const ns = useNamespace('badsd');

  it('holds at least 30 files', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  it.each(files)('rejects %s with 422 and a message naming what is wrong', async (file) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    const expected = expectation(text);
    const body = parse(text) as object;
    let message: string | undefined;
    try {
      await kubeConfig().makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns.name,
        plural: PLURAL,
        body,
      });
    } catch (error) {
      if (!(error instanceof k8s.ApiException)) throw error;
      expect(error.code).toBe(422);
      message = (JSON.parse(String(error.body)) as { message: string }).message;
    }
    tried++;
    expect(message, `${file} was accepted`).toBeDefined();
    expect(message).toMatch(expected);
  });
});
