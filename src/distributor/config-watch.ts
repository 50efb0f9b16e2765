import { watchFile, unwatchFile, readFileSync } from 'node:fs';
import { parseIni, type DistributorConfig, type Env } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';

/**
 * Re-reads the INI when it changes and hands a valid new config on. Polls the file's stat
 * rather than using inotify: a ConfigMap volume swaps a symlink, which inotify misses.
 * A bad edit is logged with its reason and ignored; the running config stays.
 */
export function watchConfig(
  file: string,
  env: Env,
  log: Logger,
  onChange: (config: DistributorConfig) => void | Promise<void>,
  intervalMs = 1_000,
): () => void {
  let last = readSafely(file);
  const listener = () => {
    const text = readSafely(file);
    if (text === undefined || text === last) return;
    last = text;
    try {
      const config = parseIni(text, { file, env });
      void Promise.resolve(onChange(config)).catch((error: unknown) =>
        log.error({ err: error, file }, 'applying the changed config failed'),
      );
    } catch (error) {
      log.error({ err: error, file }, 'changed config is invalid; keeping the running one');
    }
  };
  watchFile(file, { interval: intervalMs, persistent: false }, listener);
  return () => unwatchFile(file, listener);
}

function readSafely(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
