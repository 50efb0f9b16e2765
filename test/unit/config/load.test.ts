import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigEnvError,
  ConfigFileError,
  defaultConfig,
  loadConfigFile,
  renderIni,
} from '../../../src/config/index.ts';
import { createLogger, silentLogger } from '../../../src/observability/index.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sd-config-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capturingLogger() {
  const records: Record<string, unknown>[] = [];
  const log = createLogger(
    { level: 'info' },
    { write: (line: string) => records.push(JSON.parse(line)) },
  );
  return { log, records };
}

describe('loadConfigFile', () => {
  it('writes the defaults when the file is missing, says so, and returns them', async () => {
    const path = join(dir, 'config', 'veda-queue-shard-distributor.ini');
    const { log, records } = capturingLogger();

    const config = await loadConfigFile(path, { env: {}, log });

    expect(config).toStrictEqual(defaultConfig());
    expect(await readFile(path, 'utf8')).toBe(renderIni(defaultConfig()));
    expect(records).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        file: path,
        msg: 'config file missing; wrote the defaults',
      }),
    );
  });

  it('reads an existing file without touching it, substituting the given env', async () => {
    const path = join(dir, 'sd.ini');
    const text = '[dispatcher]\nmin_workers = ${WORKERS:-2}\n';
    await writeFile(path, text);

    const config = await loadConfigFile(path, { env: { WORKERS: '6' }, log: silentLogger });

    expect(config.dispatcher.minWorkers).toBe(6);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('names the path in a parse error', async () => {
    const path = join(dir, 'sd.ini');
    await writeFile(path, '[worker]\nworker_base_path = ${QUEUE_ROOT}\n');
    await expect(loadConfigFile(path, { env: {}, log: silentLogger })).rejects.toThrow(
      ConfigEnvError,
    );
    await expect(loadConfigFile(path, { env: {}, log: silentLogger })).rejects.toThrow(
      `${path}:2: [worker]`,
    );
  });

  it('fails with SD_ERR_CONFIG_FILE when the path cannot be read', async () => {
    await expect(loadConfigFile(dir, { env: {}, log: silentLogger })).rejects.toMatchObject({
      name: 'ConfigFileError',
      code: 'SD_ERR_CONFIG_FILE',
      file: dir,
    });
  });

  it('fails with SD_ERR_CONFIG_FILE when the defaults cannot be written', async () => {
    // A dangling symlink as the directory: reading says "missing", creating it fails, even as root.
    const dangling = join(dir, 'dangling');
    await symlink(join(dir, 'nowhere'), dangling);
    const attempt = loadConfigFile(join(dangling, 'sd.ini'), { env: {}, log: silentLogger });
    await expect(attempt).rejects.toThrow(ConfigFileError);
    await expect(attempt).rejects.toThrow(
      'the config file is missing and writing the defaults there failed',
    );
  });

  it('fails with SD_ERR_CONFIG_FILE for a dangling symlink rather than replacing it', async () => {
    const path = join(dir, 'sd.ini');
    await symlink(join(dir, 'gone.ini'), path);
    await expect(loadConfigFile(path, { env: {}, log: silentLogger })).rejects.toThrow(
      ConfigFileError,
    );
  });

  it('returns the defaults when the directory exists but the file does not', async () => {
    await mkdir(join(dir, 'config'));
    const config = await loadConfigFile(join(dir, 'config', 'x.ini'), {
      env: {},
      log: silentLogger,
    });
    expect(config).toStrictEqual(defaultConfig());
  });
});
