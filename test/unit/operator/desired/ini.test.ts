import { describe, expect, it } from 'vitest';
import { parseIni, renderWorkerArgv } from '../../../../src/config/index.ts';
import { configFor, renderedIni } from '../../../../src/operator/desired/index.ts';
import { natsWithTls, SAMPLES, sample, withSpec } from './samples.ts';

const plan = { liveShards: 4, drainingShards: [] };

describe('configFor', () => {
  it('maps the full sample onto the INI keys', () => {
    const config = configFor(sample('full'), { liveShards: 6, drainingShards: [7, 6] });
    expect(config.dispatcher).toMatchObject({
      basePath: '/var/lib/veda/queue',
      mainQueueName: 'individuals-flow',
      minWorkers: 6,
      drainingShards: [6, 7],
      consumerName: 'queue-shard-distributor',
      backend: 'veda',
      strategy: 'ZeroLoadFirst',
      batchSize: 100,
      metricsPort: 9464,
    });
    expect(config.worker).toEqual({
      workerBasePath: '/var/lib/veda/queue',
      subQueuePrefix: 'individuals-flow-shard',
      sleepEmptySec: 0.5,
      workerModule: 'python3 -m worker.queue_worker',
      workerArgsTemplate:
        '--base {worker_base_path} --sub {sub_queue_name} --src {src} --sleep-empty {sleep_empty_sec}',
    });
    expect(config.nats).toBeUndefined();
  });

  it('takes the CRD defaults for a spec without queue.veda', () => {
    const config = configFor(sample('minimal'), plan);
    expect(config.dispatcher.basePath).toBe('/var/lib/veda/queue');
    expect(config.worker.workerBasePath).toBe('/var/lib/veda/queue');
    expect(config.worker.subQueuePrefix).toBe('individuals-flow-shard');
  });

  it('points the NATS credentials at the mounted Secret key', () => {
    const config = configFor(sample('nats'), { liveShards: 8, drainingShards: [] });
    expect(config.dispatcher.backend).toBe('nats');
    expect(config.dispatcher.strategy).toBe('KeyHash');
    expect(config.nats).toEqual({
      url: 'nats://nats.messaging.svc:4222',
      mainStream: 'SD_MAIN',
      shardStream: 'SD_SHARDS',
      credentialsFile: '/var/run/secrets/shard-distributor/nats/user.creds',
    });
  });

  it('points the NATS TLS files at the mounted Secret keys, only those queue.nats.tls names', () => {
    const dir = '/var/run/secrets/shard-distributor/nats-tls';
    expect(configFor(natsWithTls('all'), plan).nats).toEqual({
      url: 'nats://nats.messaging.svc:4222',
      mainStream: 'SD_MAIN',
      shardStream: 'SD_SHARDS',
      credentialsFile: '/var/run/secrets/shard-distributor/nats/user.creds',
      tlsCaFile: `${dir}/ca.crt`,
      tlsCertFile: `${dir}/tls.crt`,
      tlsKeyFile: `${dir}/tls.key`,
    });
    const caOnly = configFor(natsWithTls('caOnly'), plan).nats;
    expect(caOnly?.tlsCaFile).toBe(`${dir}/ca.crt`);
    expect(caOnly).not.toHaveProperty('tlsCertFile');
    expect(caOnly).not.toHaveProperty('tlsKeyFile');
    expect(configFor(sample('nats'), plan).nats).not.toHaveProperty('tlsCaFile');
  });

  it('keeps an argument with spaces one argument through the INI', () => {
    const sd = withSpec(sample('full'), (spec) => {
      spec.worker.command = ['/opt/my worker/run', '--mode', "it's"];
      spec.worker.argsTemplate = ['--label', 'shard {sub_queue_name} of {src}'];
    });
    const config = parseIni(renderedIni(sd, plan), { env: {} });
    expect(renderWorkerArgv(config, 2)).toEqual([
      '/opt/my worker/run',
      '--mode',
      "it's",
      '--label',
      'shard individuals-flow-shard-2 of queue-shard-distributor',
    ]);
  });
});

describe('renderedIni', () => {
  it.each(SAMPLES)('parses back to configFor for the %s sample', (name) => {
    const sd = sample(name);
    const shards = { liveShards: 3, drainingShards: [5, 3] };
    expect(parseIni(renderedIni(sd, shards), { env: {} })).toEqual(configFor(sd, shards));
  });

  it.each(['all', 'caOnly'] as const)(
    'writes the NATS TLS files (%s) into [nats] and parses back to configFor',
    (which) => {
      const sd = natsWithTls(which);
      const text = renderedIni(sd, plan);
      expect(text).toMatch(
        /^tls_ca_file = \/var\/run\/secrets\/shard-distributor\/nats-tls\/ca\.crt$/m,
      );
      if (which === 'all') {
        expect(text).toMatch(
          /^tls_cert_file = \/var\/run\/secrets\/shard-distributor\/nats-tls\/tls\.crt$/m,
        );
        expect(text).toMatch(
          /^tls_key_file = \/var\/run\/secrets\/shard-distributor\/nats-tls\/tls\.key$/m,
        );
      } else {
        expect(text).not.toMatch(/^tls_(cert|key)_file/m);
      }
      expect(parseIni(text, { env: {} })).toEqual(configFor(sd, plan));
    },
  );

  it('lists the draining shards', () => {
    expect(renderedIni(sample('full'), { liveShards: 2, drainingShards: [3, 2] })).toMatch(
      /^draining_shards = 2,3$/m,
    );
  });

  it('keeps a literal ${ in a path literal for the distributor', () => {
    const sd = withSpec(sample('full'), (spec) => {
      spec.queue.veda!.basePath = '/data/${HOME}/queue';
    });
    const config = parseIni(renderedIni(sd, plan), { env: { HOME: '/root' } });
    expect(config.dispatcher.basePath).toBe('/data/${HOME}/queue');
  });
});
