import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { base64File, type Pki } from './pki.ts';

export interface KubeconfigUser {
  name: string;
  /** Either a client certificate pair or a bearer token. */
  clientCert?: string;
  clientKey?: string;
  token?: string;
}

/** Writes a kubeconfig with the CA and credentials embedded (no paths to go stale). */
export function writeKubeconfig(
  path: string,
  server: string,
  pki: Pki,
  user: KubeconfigUser,
): void {
  const credentials = user.token
    ? { token: user.token }
    : {
        'client-certificate-data': base64File(user.clientCert ?? pki.adminCert),
        'client-key-data': base64File(user.clientKey ?? pki.adminKey),
      };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'shard-distributor-test',
        cluster: { server, 'certificate-authority-data': base64File(pki.caCert) },
      },
    ],
    users: [{ name: user.name, user: credentials }],
    contexts: [
      {
        name: 'shard-distributor-test',
        context: { cluster: 'shard-distributor-test', user: user.name },
      },
    ],
    'current-context': 'shard-distributor-test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}
