import { describe, expect, it } from 'vitest';
import { specProblems } from '../../../../src/operator/desired/index.ts';
import { sample, withSpec } from './samples.ts';

describe('specProblems', () => {
  it.each(['full', 'nats', 'sidecar'] as const)(
    'finds nothing wrong with the %s sample',
    (name) => {
      expect(specProblems(sample(name))).toEqual([]);
    },
  );

  it('says the workers share nothing without a claim', () => {
    expect(specProblems(sample('minimal'))).toEqual([
      { reason: 'NoSharedVolume', message: expect.stringContaining('persistentVolumeClaim') },
    ]);
  });

  it('asks for the host volume of a veda sidecar', () => {
    const sd = withSpec(sample('sidecar'), (spec) => void delete spec.queue.veda!.volumeName);
    expect(specProblems(sd)).toEqual([
      {
        reason: 'InvalidSpec',
        message: expect.stringContaining('of StatefulSet veda-server that holds the main queue'),
      },
    ]);
  });

  it('catches names too long for the children', () => {
    const sd = sample('full');
    const long = { ...sd, metadata: { ...sd.metadata, name: 'n'.repeat(60) } };
    expect(
      specProblems(long)
        .map((p) => p.message)
        .join('\n'),
    ).toMatch(/metrics Service would be named n+-metrics/);
  });

  it('passes on what the INI rules refuse', () => {
    const sd = withSpec(sample('full'), (spec) => void (spec.worker.command = ['run', '{nope}']));
    expect(specProblems(sd)).toEqual([
      { reason: 'InvalidSpec', message: expect.stringContaining('unknown placeholder {nope}') },
    ]);
  });

  it('rejects pod template volumes the restricted standard forbids', () => {
    const sd = withSpec(sample('full'), (spec) => {
      spec.worker.podTemplate = { spec: { volumes: [{ name: 'root', hostPath: { path: '/' } }] } };
    });
    expect(specProblems(sd)).toEqual([
      {
        reason: 'InvalidSpec',
        message: expect.stringContaining('volume root is of type hostPath'),
      },
    ]);
  });
});
