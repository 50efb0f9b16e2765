import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { failureMessage } from '../../../../src/operator/reconciler/kube.ts';

describe('failureMessage', () => {
  it("gives the API server's Status message and the code, not client-node's dump", () => {
    const body = JSON.stringify({
      kind: 'Status',
      status: 'Failure',
      message:
        'deployments.apps "a-worker-2" is forbidden: exceeded quota: few, requested: count/deployments.apps=1, used: count/deployments.apps=2, limited: count/deployments.apps=2',
      reason: 'Forbidden',
      code: 403,
    });
    const error = new k8s.ApiException(403, `HTTP-Code: 403\nBody: ${body}`, body, {
      'content-type': 'application/json',
    });
    expect(failureMessage(error)).toBe(
      'deployments.apps "a-worker-2" is forbidden: exceeded quota: few, requested: count/deployments.apps=1, used: count/deployments.apps=2, limited: count/deployments.apps=2 (HTTP 403)',
    );
  });

  it('falls back to the code for a body that is not a Status, and to the message of other errors', () => {
    expect(failureMessage(new k8s.ApiException(502, 'x', '<html>bad gateway</html>', {}))).toBe(
      'HTTP 502',
    );
    expect(failureMessage(new Error('socket hang up'))).toBe('socket hang up');
  });
});
