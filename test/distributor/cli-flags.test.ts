import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/tools.ts';

const dir = mkdtempSync(join(tmpdir(), 'sd-cli-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [`${REPO_ROOT}src/cli.ts`, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { status: result.status, stderr: result.stderr };
}

describe('a command line it cannot use', () => {
  it.each([
    [['run', '--bogus'], "Unknown option '--bogus'", 'shard-distributor run ['],
    [['crd', 'extra'], 'unexpected argument "extra"', 'shard-distributor crd'],
    [['run', '--config'], "Option '--config <value>' argument missing", 'shard-distributor run ['],
    [
      ['distributor', '--config', 'x.ini', 'extra'],
      "Unexpected argument 'extra'",
      'shard-distributor distributor',
    ],
    [
      ['queue', 'stat', '--base'],
      "Option '--base <value>' argument missing",
      'shard-distributor queue',
    ],
    [['operator', '--nope'], "Unknown option '--nope'", 'shard-distributor operator'],
    [
      ['run', '--metrics-port', 'abc'],
      '--metrics-port abc is not a port (0-65535)',
      'shard-distributor run [',
    ],
    [
      ['distributor', '--config', 'x.ini', '--metrics-port', '70000'],
      '--metrics-port 70000 is not a port',
      'shard-distributor distributor',
    ],
    [
      ['run', '--demo', '--config', 'a.ini'],
      '--config does not go with --demo',
      'shard-distributor run [',
    ],
    [
      ['run', '--demo', '--duration', '2200000'],
      '--duration 2200000 is not a positive number of seconds up to 2147483',
      'shard-distributor run [',
    ],
  ])(
    '%j: says what is wrong and how the command is used, exit 2, no stack trace',
    (args, what, usage) => {
      const { status, stderr } = cli(args);
      expect(stderr.split('\n')[0]).toMatch(/^shard-distributor: /);
      expect(stderr).toContain(`shard-distributor: ${what}`);
      expect(stderr).toContain(usage);
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(status).toBe(2);
    },
  );

  it('without a command prints the usage on stderr, exit 2', () => {
    const { status, stderr } = cli([]);
    expect(stderr).toMatch(/^usage: shard-distributor <command>/);
    expect(status).toBe(2);
  });

  it('names a LOG_LEVEL it does not know and the ones it does, exit 1, no stack trace', () => {
    const { status, stderr } = cli(['crd'], { LOG_LEVEL: 'verbose' });
    expect(stderr).toBe(
      'shard-distributor: log level "verbose" is not one of trace, debug, info, warn, error, fatal, silent; set LOG_LEVEL to one of them [SD_ERR_LOG_LEVEL]\n',
    );
    expect(status).toBe(1);
    // Not a level, though an object's own property of every object.
    expect(cli(['crd'], { LOG_LEVEL: 'constructor' }).status).toBe(1);
  });

  it('refuses at start a worker command that cannot run, naming the INI key and file', () => {
    const file = join(dir, 'missing-worker.ini');
    writeFileSync(
      file,
      `[dispatcher]\nbase_path = ${join(dir, 'queue')}\n[worker]\nworker_module = ./no-such-worker --x\n`,
    );
    const { status, stderr } = cli(['run', '--config', file]);
    expect(stderr).toContain(
      `shard-distributor: ${file}: [worker] worker_module starts workers with "./no-such-worker", which cannot be run: ${join(dir, 'no-such-worker')} does not exist; install it`,
    );
    expect(stderr).toContain('[SD_ERR_WORKER_COMMAND]');
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(stderr).not.toContain('distributor started');
    expect(status).toBe(1);
  });

  it('writes no config file when a flag is wrong', () => {
    const file = join(dir, 'never.ini');
    expect(cli(['run', '--config', file, '--metrics-port', '-1']).status).toBe(2);
    expect(() => readFileSync(file)).toThrow(/ENOENT/);
  });
});

describe('a metrics port another process holds', () => {
  let holder: Server;
  let port = 0;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '0.0.0.0', resolve));
    port = (holder.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  function iniWith(metricsPort: number): string {
    const file = join(dir, `busy-${metricsPort}.ini`);
    writeFileSync(
      file,
      `[dispatcher]\nbase_path = ${join(dir, 'queue')}\nmetrics_port = ${metricsPort}\n`,
    );
    return file;
  }

  it('names the flag that set it, exit 1', () => {
    const { status, stderr } = cli([
      'distributor',
      '--config',
      iniWith(0),
      '--metrics-port',
      `${port}`,
    ]);
    expect(stderr).toContain(
      `shard-distributor: cannot serve /metrics, /healthz and /readyz on 0.0.0.0:${port}: another process listens there`,
    );
    expect(stderr).toContain('set --metrics-port to a free port (0 picks one) [SD_ERR_LISTEN]');
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(status).toBe(1);
  });

  it('names the INI key and file that set it', () => {
    const file = iniWith(port);
    const { status, stderr } = cli(['distributor', '--config', file]);
    expect(stderr).toContain(`set [dispatcher] metrics_port in ${file} to a free port`);
    expect(status).toBe(1);
  });
});

describe('Ctrl-C', () => {
  // A NATS server that accepts and never answers: the command waits on it.
  let silent: Server;
  let port = 0;
  beforeAll(async () => {
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => silent.close(() => resolve())));

  it('ends a command that has nothing to finish at the first one', async () => {
    const file = join(dir, 'silent-nats.ini');
    writeFileSync(
      file,
      `[dispatcher]\nbackend = nats\nbase_path = ${join(dir, 'q')}\n[nats]\nurl = nats://127.0.0.1:${port}\n`,
    );
    const child = spawn(
      process.execPath,
      [`${REPO_ROOT}src/cli.ts`, 'queue', 'stat', '--config', file, 'q'],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    child.kill('SIGINT');
    // Before, the first Ctrl-C was taken over and ignored: it waited for the server's timeout.
    const ended = await Promise.race([
      exited,
      new Promise((resolve) => setTimeout(() => resolve('still running'), 4_000)),
    ]);
    child.kill('SIGKILL');
    expect(ended).toEqual({ code: null, signal: 'SIGINT' });
  });
});
