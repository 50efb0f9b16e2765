import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultNatsConfig, parseIni } from '../../../src/config/index.ts';
import {
  createNatsBackend,
  QueueNotFoundError,
  QueueTimeoutError,
  type NatsBackendOptions,
} from '../../../src/queue/index.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { createPki, type Pki } from '../../harness/pki.ts';

describe('nats over TLS with a private CA and client certificates (tls_* keys)', () => {
  let dir: string;
  let pki: Pki;
  let server: NatsServer;

  beforeAll(async () => {
    // Not sd-nats-…: the harness clears such directories that no live server owns.
    dir = mkdtempSync(join(tmpdir(), 'sd-tls-pki-'));
    pki = createPki(dir);
    // verify: the server requires a client certificate signed by the CA (mutual TLS).
    server = await NatsServer.start({
      config: [
        'tls {',
        `  cert_file: "${pki.adminCert}"`,
        `  key_file: "${pki.adminKey}"`,
        `  ca_file: "${pki.caCert}"`,
        '  verify: true',
        '}',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const options = (tls: Partial<NatsBackendOptions>): NatsBackendOptions => ({
    ...defaultNatsConfig(server.url),
    mainStream: 'TLS_MAIN',
    shardStream: 'TLS_SHARDS',
    mainQueue: 'main',
    requestTimeoutMs: 3_000,
    ...tls,
  });

  it('stores and reads a message with the files an INI names', async () => {
    const ini = [
      '[dispatcher]',
      'backend = nats',
      '[nats]',
      `url = ${server.url}`,
      `tls_ca_file = ${pki.caCert}`,
      `tls_cert_file = ${pki.adminCert}`,
      `tls_key_file = ${pki.adminKey}`,
    ].join('\n');
    const nats = parseIni(ini, { env: {} }).nats!;
    const backend = await createNatsBackend({ ...options({}), ...nats, mainQueue: 'main' });
    try {
      const writer = await backend.openWriter('shard-0');
      await writer.append([Buffer.from('over tls')]);
      await writer.flush();
      const consumer = await backend.openConsumer('shard-0', 'worker');
      const batch = await consumer.read(10);
      expect(batch.messages.map((m) => m.data.toString())).toEqual(['over tls']);
      await consumer.close();
      await writer.close();
    } finally {
      await backend.close();
    }
  });

  it('cannot connect without the CA, nor without the client certificate, and says which server', async () => {
    const noCa = createNatsBackend(
      options({ tlsCertFile: pki.adminCert, tlsKeyFile: pki.adminKey }),
    );
    await expect(noCa).rejects.toThrow(QueueTimeoutError);
    await expect(noCa).rejects.toThrow(`could not connect to NATS at ${server.url}`);
    const noClientCert = createNatsBackend(options({ tlsCaFile: pki.caCert }));
    await expect(noClientCert).rejects.toThrow(`could not connect to NATS at ${server.url}`);
  });

  it('names a TLS file it cannot read at start', async () => {
    const missing = join(dir, 'absent.crt');
    const start = createNatsBackend(
      options({ tlsCaFile: missing, tlsCertFile: pki.adminCert, tlsKeyFile: pki.adminKey }),
    );
    await expect(start).rejects.toThrow(QueueNotFoundError);
    await expect(start).rejects.toThrow(`cannot read the NATS TLS file ${missing}`);
  });
});
