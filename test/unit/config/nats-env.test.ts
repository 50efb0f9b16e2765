import { describe, expect, it } from 'vitest';
import {
  defaultConfig,
  natsEnv,
  natsFromEnv,
  NatsEnvError,
  type DistributorConfig,
} from '../../../src/config/index.ts';

const natsConfig = (nats: NonNullable<DistributorConfig['nats']>): DistributorConfig => {
  const base = defaultConfig();
  return { ...base, dispatcher: { ...base.dispatcher, backend: 'nats' }, nats };
};

describe('natsEnv and natsFromEnv', () => {
  it('carry the [nats] section and the main queue to a worker and back', () => {
    const nats = { url: 'nats://a:4222', mainStream: 'M', shardStream: 'S', credentialsFile: '/c' };
    expect(natsFromEnv(natsEnv(natsConfig(nats)))).toEqual({
      ...nats,
      mainQueue: 'individuals-flow',
    });
    const withTls = {
      url: 'tls://a:4222',
      mainStream: 'M',
      shardStream: 'S',
      tlsCaFile: '/tls/ca.crt',
      tlsCertFile: '/tls/tls.crt',
      tlsKeyFile: '/tls/tls.key',
    };
    expect(natsEnv(natsConfig(withTls))).toMatchObject({
      SD_NATS_TLS_CA_FILE: '/tls/ca.crt',
      SD_NATS_TLS_CERT_FILE: '/tls/tls.crt',
      SD_NATS_TLS_KEY_FILE: '/tls/tls.key',
    });
    expect(natsFromEnv(natsEnv(natsConfig(withTls)))).toEqual({
      ...withTls,
      mainQueue: 'individuals-flow',
    });
    const withoutCreds = { url: 'nats://a:4222', mainStream: 'M', shardStream: 'S' };
    expect(natsFromEnv(natsEnv(natsConfig(withoutCreds)))).toEqual({
      ...withoutCreds,
      mainQueue: 'individuals-flow',
    });
  });

  it('gives a veda config no variables', () => {
    expect(natsEnv(defaultConfig())).toEqual({});
  });

  it('takes the default streams when only the URL and the main queue are set', () => {
    expect(natsFromEnv({ SD_NATS_URL: 'nats://a:4222', SD_MAIN_QUEUE: 'q' })).toEqual({
      url: 'nats://a:4222',
      mainStream: 'SD_MAIN',
      shardStream: 'SD_SHARDS',
      mainQueue: 'q',
    });
  });

  it.each([
    [{ SD_MAIN_QUEUE: 'q' }, 'SD_NATS_URL'],
    [{ SD_NATS_URL: ' ', SD_MAIN_QUEUE: 'q' }, 'SD_NATS_URL'],
    [{ SD_NATS_URL: 'nats://a:4222' }, 'SD_MAIN_QUEUE'],
  ])('names the variable that is missing (%j)', (env, name) => {
    expect(() => natsFromEnv(env)).toThrow(NatsEnvError);
    expect(() => natsFromEnv(env)).toThrow(`environment variable ${name} is not set`);
    expect(() => natsFromEnv(env)).toThrow(expect.objectContaining({ key: name }));
  });
});
