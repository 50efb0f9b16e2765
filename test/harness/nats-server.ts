import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';
import { claimRunDir, ManagedProcess } from './process.ts';
import { toolPath } from './tools.ts';

// Every directory under the temp dir with this prefix and no live owner is removed when a
// server starts: test directories of their own must not take it.
const RUN_PREFIX = 'sd-nats-';

/** Ends a wait at once: the server exited, waiting longer cannot help. */
class FatalStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FatalStartError';
  }
}

/**
 * A real nats-server with JetStream on loopback, built from test/cluster/nats. It keeps its
 * port and store directory across `restart()`, so a test can take the server away in the
 * middle of a batch and bring the same streams back. nats.js's own tests do the same with
 * their launcher helper.
 */
export class NatsServer {
  readonly dir: string;
  readonly storeDir: string;
  port = 0;
  monitorPort = 0;
  private process?: ManagedProcess;
  private starts = 0;
  private configFile?: string;

  constructor() {
    const parent = tmpdir();
    this.dir = mkdtempSync(join(parent, RUN_PREFIX));
    claimRunDir(this.dir, RUN_PREFIX, parent);
    this.storeDir = join(this.dir, 'jetstream');
    mkdirSync(this.storeDir);
  }

  /** The client URL, e.g. `nats://127.0.0.1:4222`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.process?.running ?? false;
  }

  /**
   * `config`: nats-server configuration text (users and their permissions, say), given to the
   * server as a file next to its store; the flags here (port, store, JetStream) come after it.
   */
  static async start(options: { readonly config?: string } = {}): Promise<NatsServer> {
    const server = new NatsServer();
    if (options.config !== undefined) {
      server.configFile = join(server.dir, 'nats-server.conf');
      writeFileSync(server.configFile, options.config);
    }
    server.port = await freePort();
    server.monitorPort = await freePort();
    await server.launch();
    return server;
  }

  /** Stops the server gracefully (SIGTERM: JetStream flushes its store). */
  async stop(): Promise<void> {
    await this.process?.stop();
  }

  /** Stops answering (SIGSTOP), its connections open, as a stalled or partitioned server; `false` wakes it. */
  freeze(frozen = true): void {
    this.process?.freeze(frozen);
  }

  /** SIGKILL: a crash, nothing flushed on the way out. */
  async kill(): Promise<void> {
    await this.process?.kill();
  }

  /** Stops (if running) and starts again on the same port with the same store. */
  async restart(options: { readonly crash?: boolean } = {}): Promise<void> {
    if (options.crash) await this.kill();
    else await this.stop();
    await this.launch();
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  logs(lines = 40): string {
    return this.process?.tail(lines) ?? '';
  }

  private async launch(): Promise<void> {
    this.starts += 1;
    this.process = ManagedProcess.start(
      this.dir,
      `nats-server-${this.starts}`,
      toolPath('nats-server'),
      [
        ...(this.configFile === undefined ? [] : ['-c', this.configFile]),
        '-js',
        '-sd',
        this.storeDir,
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-m',
        String(this.monitorPort),
        '-n',
        'sd-test',
      ],
    );
    const proc = this.process;
    try {
      await eventually(
        async () => {
          if (!proc.running) throw new FatalStartError(`nats-server exited:\n${proc.tail()}`);
          const { status, body } = await httpGet(`http://127.0.0.1:${this.monitorPort}/healthz`);
          if (status !== 200) throw new Error(`/healthz answered ${status}: ${body}`);
        },
        { timeoutMs: 30_000, intervalMs: 100, description: 'nats-server /healthz' },
      );
    } catch (error) {
      await proc.stop();
      throw new Error(
        `nats-server did not start (logs in ${this.dir}): ${(error as Error).message}\n${proc.tail()}`,
        { cause: error },
      );
    }
  }
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}
