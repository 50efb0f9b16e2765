import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/index.ts';
import { startOperator } from '../../../src/operator/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { freePort } from '../../harness/ports.ts';
import { REPO_ROOT } from '../../harness/tools.ts';
import { kubeConfig } from '../support.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');

describe('the operator process while it starts', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stops on SIGTERM while its caches cannot sync (an API server that does not answer)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-e2e-startup-'));
    // Nothing listens on this port: the informers retry for ever, and the caches never sync.
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'gone', cluster: { server: `https://127.0.0.1:${await freePort()}` } }],
        users: [{ name: 'nobody', user: { token: 'none' } }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'nobody' } }],
        'current-context': 'gone',
      }),
    );
    const child = spawn(
      process.execPath,
      [CLI, 'operator', '--metrics-port', '0', '--health-port', '0'],
      {
        env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await eventually(() => expect(output).toContain('operator starting'), {
        timeoutMs: 30_000,
      });
      child.kill('SIGTERM');
      // Before, the signal was listened for only once the caches had synced: it went unheard
      // and the process ran on until a SIGKILL.
      const code = await Promise.race([
        exited,
        new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 20_000)),
      ]);
      expect(code, output.slice(-2_000)).toBe(0);
      expect(output).toContain('stopped while starting');
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});

describe('the operator when a port it needs is taken', () => {
  it('fails with SD_ERR_LISTEN and closes what it had opened (the metrics port is free again)', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as AddressInfo).port;
    const metricsPort = await freePort();
    try {
      await expect(
        startOperator({
          kc: kubeConfig(),
          log: silentLogger,
          namespaces: [],
          defaultImage: 'registry.example/shard-distributor:test',
          concurrency: 1,
          metricsPort,
          healthPort: taken,
          host: '127.0.0.1',
          loadRoute: 'proxy',
        }),
      ).rejects.toMatchObject({ code: 'SD_ERR_LISTEN' });
      // Free again: the failed start did not leave its metrics server listening.
      const again = createServer();
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.listen(metricsPort, '127.0.0.1', resolve);
      });
      await new Promise<void>((resolve) => again.close(() => resolve()));
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
