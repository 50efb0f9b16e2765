import { describe, expect, it } from 'vitest';
import { refusalText } from '../../../../src/operator/reconciler/load-reader.ts';

describe('what a refused /load read says', () => {
  it('keeps the whole message of an API Status, which names the missing permission at its end', () => {
    const message =
      'services "individuals-flow-metrics:9464" is forbidden: User "system:serviceaccount:team-a:developer" cannot get resource "services/proxy" in API group "" in the namespace "team-a"';
    // Through the API server's proxy a refusal is a Status, its message after ~150 characters.
    const status = JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: 'Forbidden',
      details: { name: 'individuals-flow-metrics:9464', kind: 'services' },
      code: 403,
    });
    // Cut at 200 characters, as before, it lost what is missing.
    expect(status.slice(0, 200)).not.toContain('services/proxy');
    expect(refusalText(status)).toBe(message);
  });

  it('cuts a body that is not an API Status short', () => {
    expect(refusalText('x'.repeat(1000))).toBe('x'.repeat(200));
  });
});
