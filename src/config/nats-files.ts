import type { NatsConfig } from './types.ts';

/** The `[nats]` keys that name a file: each optional, each passed to workers by one variable. */
export type NatsFileField = 'credentialsFile' | 'tlsCaFile' | 'tlsCertFile' | 'tlsKeyFile';

export interface NatsFileKey {
  readonly field: NatsFileField & keyof NatsConfig;
  /** The INI key. */
  readonly key: string;
  /** The variable a worker reads it from (`natsEnv`, `natsFromEnv`). */
  readonly env: string;
  /** The comment above it in a rendered INI. */
  readonly about: string;
}

export const NATS_FILE_KEYS: readonly NatsFileKey[] = [
  {
    field: 'credentialsFile',
    key: 'credentials_file',
    env: 'SD_NATS_CREDENTIALS_FILE',
    about: 'NATS credentials (.creds) file.',
  },
  {
    field: 'tlsCaFile',
    key: 'tls_ca_file',
    env: 'SD_NATS_TLS_CA_FILE',
    about: "PEM CA bundle to check the server's TLS certificate against.",
  },
  {
    field: 'tlsCertFile',
    key: 'tls_cert_file',
    env: 'SD_NATS_TLS_CERT_FILE',
    about: 'PEM client certificate, for a server that verifies clients (with tls_key_file).',
  },
  {
    field: 'tlsKeyFile',
    key: 'tls_key_file',
    env: 'SD_NATS_TLS_KEY_FILE',
    about: 'PEM private key of tls_cert_file.',
  },
];
