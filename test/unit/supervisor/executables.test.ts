import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig, type DistributorConfig } from '../../../src/config/index.ts';
import {
  checkWorkerExecutables,
  findExecutable,
  WorkerCommandError,
} from '../../../src/supervisor/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'sd-executables-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(dir, 'bin');
mkdirSync(bin);
mkdirSync(join(bin, 'a-directory'));
writeFileSync(join(bin, 'worker'), '#!/bin/sh\n');
chmodSync(join(bin, 'worker'), 0o755);
writeFileSync(join(bin, 'plain'), 'not executable\n');
chmodSync(join(bin, 'plain'), 0o644);

describe('findExecutable', () => {
  it('finds a name in the PATH directories, in order, skipping what cannot run', () => {
    const path = [join(dir, 'missing'), bin].join(':');
    expect(findExecutable('worker', path, '/')).toEqual({ found: join(bin, 'worker') });
    expect(findExecutable('plain', path, '/')).toEqual({
      tried: `no executable file named plain in PATH (${path})`,
    });
    expect(findExecutable('a-directory', path, '/')).toHaveProperty('tried');
    expect(findExecutable('worker', undefined, '/')).toEqual({
      tried: 'no executable file named worker in PATH (unset)',
    });
  });

  it('reads an empty PATH entry as the working directory', () => {
    expect(findExecutable('worker', `/nowhere:`, bin)).toEqual({ found: join(bin, 'worker') });
  });

  it('takes a name with a slash as a path, relative to the working directory', () => {
    expect(findExecutable('bin/worker', '', dir)).toEqual({ found: join(bin, 'worker') });
    expect(findExecutable(join(bin, 'worker'), '', '/')).toEqual({ found: join(bin, 'worker') });
    expect(findExecutable('bin/nope', bin, dir)).toEqual({
      tried: `${join(bin, 'nope')} does not exist`,
    });
    expect(findExecutable('bin/plain', bin, dir)).toEqual({
      tried: `${join(bin, 'plain')} is not executable`,
    });
    expect(findExecutable('bin/a-directory', bin, dir)).toEqual({
      tried: `${join(bin, 'a-directory')} is not a file`,
    });
  });
});

describe('checkWorkerExecutables', () => {
  const withModule = (workerModule: string): DistributorConfig => ({
    ...defaultConfig(),
    worker: { ...defaultConfig().worker, workerModule },
  });

  it('passes a command found on PATH, and names the INI key and file of one that is not', () => {
    const env = { PATH: bin };
    expect(() =>
      checkWorkerExecutables(withModule('worker --x'), 'sd.ini', env, dir),
    ).not.toThrow();
    const missing = () => checkWorkerExecutables(withModule('python3 -m w'), 'sd.ini', env, dir);
    expect(missing).toThrow(WorkerCommandError);
    expect(missing).toThrow(
      `sd.ini: [worker] worker_module starts workers with "python3", which cannot be run: ` +
        `no executable file named python3 in PATH (${bin}); install it, or set worker_module`,
    );
  });

  it('checks every pool, naming its section', () => {
    const config: DistributorConfig = {
      ...withModule('worker'),
      pools: [
        {
          name: 'big',
          match: {},
          minWorkers: 1,
          drainingShards: [],
          strategy: 'RoundRobin',
          subQueuePrefix: 'big',
          workerModule: `${bin}/plain --fast`,
          workerArgsTemplate: '',
          backpressure: { maxBacklogPerShard: 0, maxDiskBytes: 0 },
        },
      ],
    };
    expect(() => checkWorkerExecutables(config, 'sd.ini', { PATH: bin }, dir)).toThrow(
      `sd.ini: [pool.big] worker_module starts workers with "${bin}/plain", which cannot be run: ${bin}/plain is not executable`,
    );
  });
});
