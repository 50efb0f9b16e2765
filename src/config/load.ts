import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../observability/index.ts';
import { defaultConfig } from './defaults.ts';
import { ConfigFileError } from './errors.ts';
import { parseIni } from './parse.ts';
import { renderIni } from './render.ts';
import type { DistributorConfig, Env } from './types.ts';

export interface LoadOptions {
  readonly env: Env;
  readonly log: Logger;
  /** Write the defaults when the file is missing, as the original did (default true); tools that only read pass false. */
  readonly createIfMissing?: boolean;
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/**
 * Reads and parses the INI at `path`. A missing file is written with the defaults first, as
 * the original did, and the log says so; any other read or write failure is a ConfigFileError.
 */
export async function loadConfigFile(
  path: string,
  options: LoadOptions,
): Promise<DistributorConfig> {
  let text = await readText(path);
  if (text === undefined && options.createIfMissing === false) {
    throw new ConfigFileError(`${path}: no such config file; check the path`, { file: path });
  }
  text ??= await writeDefaults(path, options.log);
  const config = parseIni(text, { file: path, env: options.env });
  options.log.info(
    {
      file: path,
      backend: config.dispatcher.backend,
      mainQueue: config.dispatcher.mainQueueName,
      minWorkers: config.dispatcher.minWorkers,
      strategy: config.dispatcher.strategy,
    },
    'config loaded',
  );
  return config;
}

/** The file's text, or undefined when it does not exist. */
async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw new ConfigFileError(
      `${path}: cannot read the config file: ${(error as Error).message}`,
      { file: path },
      {
        cause: error,
      },
    );
  }
}

async function writeDefaults(path: string, log: Logger): Promise<string> {
  const text = renderIni(defaultConfig());
  try {
    await mkdir(dirname(path), { recursive: true });
    // 'wx': if another process created the file meanwhile, read theirs rather than overwrite it.
    await writeFile(path, text, { encoding: 'utf8', flag: 'wx' });
  } catch (error) {
    const theirs = isErrno(error, 'EEXIST') ? await readText(path) : undefined;
    if (theirs !== undefined) return theirs;
    throw new ConfigFileError(
      `${path}: the config file is missing and writing the defaults there failed: ${(error as Error).message}; ` +
        'create the file or make its directory writable',
      { file: path },
      { cause: error },
    );
  }
  log.warn({ file: path }, 'config file missing; wrote the defaults');
  return text;
}
