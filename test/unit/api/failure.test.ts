import { describe, expect, it } from 'vitest';
import {
  FAILURE_POLICIES,
  InvalidSpecError,
  shardDistributorCrd,
  withDefaults,
} from '../../../src/api/index.ts';
import * as config from '../../../src/config/index.ts';

const minimal = {
  queue: { mainQueue: 'individuals-flow' },
  worker: { image: 'worker:1', command: ['w'] },
};

function withFailure(failure: unknown, poolFailure?: unknown) {
  return withDefaults({
    ...minimal,
    failure,
    ...(poolFailure === undefined
      ? {}
      : { pools: [{ name: 'large', match: { minBytes: 1 }, failure: poolFailure }] }),
  });
}

describe('spec.failure', () => {
  it('is absent unless set, on the spec and on a pool', () => {
    const spec = withDefaults({ ...minimal, pools: [{ name: 'large', match: { minBytes: 1 } }] });
    expect(spec.failure).toBeUndefined();
    expect(spec.pools?.[0]?.failure).toBeUndefined();
  });

  it('has the same policies and defaults as the INI keys', () => {
    expect([...FAILURE_POLICIES]).toEqual([...config.FAILURE_POLICIES]);
    const spec = withFailure({}, {});
    const asIni = (f: NonNullable<typeof spec.failure>) => ({
      policy: f.policy,
      maxAttempts: f.maxAttempts,
      retryBackoffSec: f.retryBackoffSeconds,
      retryBackoffMaxSec: f.retryBackoffMaxSeconds,
    });
    expect(asIni(spec.failure!)).toEqual(config.DEFAULT_FAILURE);
    expect(asIni(spec.pools![0]!.failure!)).toEqual(config.DEFAULT_FAILURE);
  });

  it('keeps what the user set', () => {
    expect(withFailure({ policy: 'Block', retryBackoffSeconds: 0.25 }).failure).toEqual({
      policy: 'Block',
      maxAttempts: 5,
      retryBackoffSeconds: 0.25,
      retryBackoffMaxSeconds: 300,
    });
  });

  it.each<[string, unknown]>([
    ['an unknown policy', { policy: 'Retry' }],
    ['maxAttempts 0', { maxAttempts: 0 }],
    ['maxAttempts above 100', { maxAttempts: 101 }],
    ['a fractional maxAttempts', { maxAttempts: 1.5 }],
    ['a zero backoff', { retryBackoffSeconds: 0 }],
    ['a backoff above a day', { retryBackoffSeconds: 86_401 }],
    ['a zero backoff maximum', { retryBackoffMaxSeconds: 0 }],
  ])('rejects %s', (_what, failure) => {
    expect(() => withFailure(failure)).toThrow(InvalidSpecError);
    expect(() => withFailure(undefined, failure)).toThrow(InvalidSpecError);
  });

  it('is a structural schema with a positive backoff and the backoff rule in CEL', () => {
    const schema = shardDistributorCrd().spec.versions[0]!.schema.openAPIV3Schema as any;
    const failure = schema.properties.spec.properties.failure;
    expect(failure.properties.retryBackoffSeconds).toMatchObject({
      type: 'number',
      minimum: 0,
      exclusiveMinimum: true,
      maximum: 86_400,
    });
    expect(failure['x-kubernetes-validations']).toEqual([
      expect.objectContaining({
        rule: 'self.retryBackoffMaxSeconds >= self.retryBackoffSeconds',
        fieldPath: '.retryBackoffMaxSeconds',
      }),
    ]);
    expect(schema.properties.spec.properties.pools.items.properties.failure).toEqual(
      expect.objectContaining({ properties: failure.properties }),
    );
    expect(schema.properties.spec.required).not.toContain('failure');
  });
});
