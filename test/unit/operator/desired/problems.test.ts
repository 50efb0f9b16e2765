import { describe, expect, it } from 'vitest';
import { mostSeriousFirst, specProblems } from '../../../../src/operator/desired/index.ts';
import { natsWithTls, sample, withSpec } from './samples.ts';

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

  it("catches a sidecar's NATS TLS volume name too long, only when there is one", () => {
    const sd = sample('sidecar');
    // Short enough for the metrics Service and the sidecar's other names, not for -nats-tls.
    const long = withSpec({ ...sd, metadata: { ...sd.metadata, name: 'n'.repeat(52) } }, (spec) => {
      spec.queue.backend = 'nats';
      delete spec.queue.veda;
      spec.queue.nats = { url: 'nats://nats:4222' } as any;
    });
    expect(specProblems(long)).toEqual([]);
    expect(specProblems(natsWithTls('caOnly', long))).toEqual([
      {
        reason: 'InvalidSpec',
        message: expect.stringMatching(/sidecar NATS TLS volume would be named sd-n+-nats-tls/),
      },
    ]);
  });

  it('passes on what the INI rules refuse, a TLS client certificate without its key among them', () => {
    // The CRD's CEL rule refuses it on admission; a spec that did not come through one still fails here.
    const certOnly = withSpec(sample('nats'), (spec) => {
      spec.queue.nats!.tls = { certSecret: { name: 'nats-client', key: 'tls.crt' } };
    });
    expect(specProblems(certOnly)).toEqual([
      { reason: 'InvalidSpec', message: expect.stringContaining('tls_key_file') },
    ]);
  });

  it('passes on what the INI rules refuse', () => {
    const sd = withSpec(sample('full'), (spec) => void (spec.worker.command = ['run', '{nope}']));
    expect(specProblems(sd)).toEqual([
      { reason: 'InvalidSpec', message: expect.stringContaining('unknown placeholder {nope}') },
    ]);
  });

  it('refuses workers that would read their shards as another consumer than the distributor measures', () => {
    const sd = withSpec(sample('full'), (spec) => {
      spec.worker.argsTemplate = ['--sub', '{sub_queue_name}', '--src', 'someone-else'];
    });
    expect(specProblems(sd)).toEqual([
      {
        reason: 'InvalidSpec',
        message: expect.stringContaining(
          'passes --src someone-else, but [dispatcher] consumer_name',
        ),
      },
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

  // The pools sample's first pool, large, has a worker of its own.
  const withPodSpec = (podSpec: Record<string, unknown>, pool = false) =>
    withSpec(sample(pool ? 'pools' : 'full'), (spec) => {
      if (pool) spec.pools![0]!.worker!.podTemplate = { spec: podSpec };
      else spec.worker.podTemplate = { spec: podSpec };
    });
  const messages = (podSpec: Record<string, unknown>, pool = false) =>
    specProblems(withPodSpec(podSpec, pool)).map((p) => {
      expect(p.reason).toBe('InvalidSpec');
      return p.message;
    });

  it('rejects host ports, naming the container and the port', () => {
    expect(
      messages({
        containers: [
          { name: 'worker', ports: [{ containerPort: 80 }, { containerPort: 81, hostPort: 81 }] },
        ],
        initContainers: [{ name: 'setup', ports: [{ containerPort: 9, hostPort: 9 }] }],
      }),
    ).toEqual([
      expect.stringMatching(
        /^worker\.podTemplate\.spec\.initContainers\[setup\]\.ports\[0\]\.hostPort is 9, which the restricted Pod Security Standard forbids; remove hostPort/,
      ),
      expect.stringMatching(
        /^worker\.podTemplate\.spec\.containers\[worker\]\.ports\[1\]\.hostPort is 81, which the restricted/,
      ),
    ]);
  });

  it('lets a zero hostPort and plain container ports through', () => {
    expect(
      messages({ containers: [{ name: 'w', ports: [{ containerPort: 80, hostPort: 0 }] }] }),
    ).toEqual([]);
  });

  it('rejects unsafe sysctls, in one problem, and lets the safe set through', () => {
    expect(
      messages({
        securityContext: {
          sysctls: [
            { name: 'net.ipv4.tcp_keepalive_time', value: '60' },
            { name: 'kernel.msgmax', value: '65536' },
            { name: 'net.core.somaxconn', value: '1024' },
          ],
        },
      }),
    ).toEqual([
      expect.stringMatching(
        /^worker\.podTemplate\.spec\.securityContext\.sysctls sets kernel\.msgmax, net\.core\.somaxconn, which the restricted Pod Security Standard forbids \(only kernel\.shm_rmid_forced, .*\); remove them/,
      ),
    ]);
    expect(
      messages({
        securityContext: {
          sysctls: [
            { name: 'kernel.shm_rmid_forced', value: '1' },
            { name: 'net.ipv4.ip_local_port_range', value: '1024 65000' },
          ],
        },
      }),
    ).toEqual([]);
  });

  it('rejects SELinux labels beyond the allowed types, at pod and container level', () => {
    expect(
      messages({
        securityContext: { seLinuxOptions: { type: 'spc_t', level: 's0:c1,c2' } },
        containers: [
          {
            name: 'shipper',
            securityContext: { seLinuxOptions: { user: 'system_u', role: 'system_r' } },
          },
        ],
      }),
    ).toEqual([
      expect.stringMatching(
        /^worker\.podTemplate\.spec\.securityContext\.seLinuxOptions sets type spc_t, which the restricted Pod Security Standard forbids \(type may only be container_t, .*\); remove it/,
      ),
      expect.stringMatching(
        /^worker\.podTemplate\.spec\.containers\[shipper\]\.securityContext\.seLinuxOptions sets user system_u and role system_r, which the restricted .*; remove them/,
      ),
    ]);
    expect(
      messages({
        securityContext: { seLinuxOptions: { type: 'container_t', level: 's0:c1,c2' } },
        containers: [
          { name: 'w', securityContext: { seLinuxOptions: { type: 'container_init_t' } } },
        ],
      }),
    ).toEqual([]);
  });

  it("names a pool's own pod template", () => {
    expect(
      messages({ containers: [{ name: 'w', ports: [{ containerPort: 1, hostPort: 1 }] }] }, true),
    ).toEqual([
      expect.stringMatching(
        /^pools\[large\]\.worker\.podTemplate\.spec\.containers\[w\]\.ports\[0\]\.hostPort is 1/,
      ),
    ]);
  });

  it('leaves what the merge drops or forces to the merge', () => {
    // Stripped or forced by withPodTemplateOverrides (security.ts says why), not refused.
    expect(
      messages({
        hostNetwork: true,
        securityContext: {
          seccompProfile: { type: 'Unconfined' },
          appArmorProfile: { type: 'Unconfined' },
          windowsOptions: { hostProcess: true },
        },
        containers: [
          {
            name: 'w',
            securityContext: { privileged: true, appArmorProfile: { type: 'Unconfined' } },
          },
        ],
      }),
    ).toEqual([]);
  });
});

describe('mostSeriousFirst', () => {
  const problem = (reason: string, message = reason) => ({ reason, message });

  it('puts what keeps the spec from being applied before what is wrong with what runs', () => {
    const found = [
      'FailureEnvOverridden',
      'NoSharedVolume',
      'VolumeClaimNotFound',
      'SidecarHostRunsAsRoot',
      'NameConflict',
      'SidecarHostNotFound',
      'ApplyFailed',
      'InvalidSpec',
    ].map((reason) => problem(reason));
    expect(mostSeriousFirst(found).map((p) => p.reason)).toEqual([
      'InvalidSpec',
      'ApplyFailed',
      'SidecarHostNotFound',
      'NameConflict',
      'SidecarHostRunsAsRoot',
      'VolumeClaimNotFound',
      'NoSharedVolume',
      'FailureEnvOverridden',
    ]);
  });

  it('keeps the order of problems of one reason, and puts a reason it does not know last', () => {
    const found = [
      problem('SomethingNew'),
      problem('InvalidSpec', 'name too long'),
      problem('NoSharedVolume'),
      problem('InvalidSpec', 'unknown placeholder'),
    ];
    expect(mostSeriousFirst(found).map((p) => p.message)).toEqual([
      'name too long',
      'unknown placeholder',
      'NoSharedVolume',
      'SomethingNew',
    ]);
  });

  it('ranks the minimal sample’s standing problem below an invalid spec', () => {
    const sd = withSpec(sample('minimal'), (spec) => {
      spec.worker.command = ['run', '{nope}'];
    });
    expect(mostSeriousFirst(specProblems(sd)).map((p) => p.reason)).toEqual([
      'InvalidSpec',
      'NoSharedVolume',
    ]);
  });
});
