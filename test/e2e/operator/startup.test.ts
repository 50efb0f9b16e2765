import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../harness/eventually.ts';
import { freePort } from '../../harness/ports.ts';
import { REPO_ROOT } from '../../harness/tools.ts';

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
