import { watchFile, unwatchFile, readFileSync } from 'node:fs';
import { parseIni, type DistributorConfig, type Env } from '../config/index.ts';
import type { Logger } from '../observability/index.ts';

export interface ConfigWatchTiming {
  /** How often the file's stat is polled. */
  intervalMs?: number;
  /**
   * How long a changed text must stay the same before it is applied. An editor or script that
   * rewrites the file in place leaves it empty or half-written for a moment; half an INI
   * still parses, with every missing key at its default (min_workers, the queue paths).
   */
  settleMs?: number;
  /**
   * The text the running config was read from. An edit made between that read and the start
   * of the watch (a distributor waiting for its main queue) is then a change like any other;
   * without it, the file's text when the watch starts is taken as running.
   */
  baseline?: string;
}

/**
 * Re-reads the INI when it changes and hands a valid new config on, once the new text has
 * settled. Polls the file's stat rather than using inotify: a ConfigMap volume swaps a
 * symlink, which inotify misses. A bad edit is logged with its reason and ignored, and so is
 * an emptied file; the running config stays.
 */
export function watchConfig(
  file: string,
  env: Env,
  log: Logger,
  onChange: (config: DistributorConfig) => void | Promise<void>,
  { intervalMs = 1_000, settleMs = 250, baseline }: ConfigWatchTiming = {},
): () => void {
  let last = baseline ?? readConfigBaseline(file);
  let settling: NodeJS.Timeout | undefined;

  const apply = (text: string) => {
    last = text;
    if (text.trim() === '') {
      log.warn({ file }, 'config file is empty; keeping the running config');
      return;
    }
    try {
      const config = parseIni(text, { file, env });
      void Promise.resolve(onChange(config)).catch((error: unknown) =>
        log.error({ err: error, file }, 'applying the changed config failed'),
      );
    } catch (error) {
      log.error({ err: error, file }, 'changed config is invalid; keeping the running one');
    }
  };
  /** Applies `seen` if the file still reads the same after settleMs; else waits on the newer text. */
  const settle = (seen: string) => {
    clearTimeout(settling);
    settling = setTimeout(() => {
      const now = readConfigBaseline(file);
      if (now === undefined || now === last) return;
      if (now === seen) apply(now);
      else settle(now);
    }, settleMs);
    settling.unref();
  };
  const listener = () => {
    const text = readConfigBaseline(file);
    if (text !== undefined && text !== last) settle(text);
  };
  watchFile(file, { interval: intervalMs, persistent: false }, listener);
  // Changed before the watch began: watchFile reports changes from now on only.
  listener();
  return () => {
    clearTimeout(settling);
    unwatchFile(file, listener);
  };
}

/**
 * The INI's text, or undefined when it cannot be read. Read before the INI is loaded and
 * parsed, it is the watch's baseline: an edit made after (while the process opens its
 * queues, stops left-over workers, …) is applied; one made between this read and the parse
 * is applied once more, to no effect.
 */
export function readConfigBaseline(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
