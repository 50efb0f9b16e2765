import { describe, expect, it } from 'vitest';
import {
  ConfigKeyError,
  defaultConfig,
  movingShards,
  parseIni,
  renderIni,
  restartKeys,
  shardSet,
  withLiveKeys,
  type DistributorConfig,
} from '../../../src/config/index.ts';

const env = {};

function withShards(
  drainingShards: number[],
  moving: number[] | undefined,
  minWorkers = 4,
): DistributorConfig {
  const base = defaultConfig();
  return {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      minWorkers,
      drainingShards,
      ...(moving === undefined ? {} : { movingShards: moving }),
    },
  };
}

describe('[dispatcher] moving_shards', () => {
  it('reads the draining shards whose backlog the distributor moves', () => {
    const config = parseIni(
      '[dispatcher]\nmin_workers = 4\ndraining_shards = 4, 5, 6\nmoving_shards = 6, 4\n',
      { env },
    );
    expect(config.dispatcher.movingShards).toEqual([6, 4]);
    expect(movingShards(config)).toEqual([6, 4]);
    expect(shardSet(config)).toEqual({ live: [0, 1, 2, 3], draining: [4, 5, 6] });
  });

  it('means no moves when absent or empty, leaving the parsed config as before the key existed', () => {
    for (const text of ['[dispatcher]\n', '[dispatcher]\nmoving_shards =\n']) {
      const config = parseIni(text, { env });
      expect(config.dispatcher).not.toHaveProperty('movingShards');
      expect(movingShards(config)).toEqual([]);
    }
  });

  it('rejects a moving shard that is not draining, naming the key and the fix', () => {
    const text = '[dispatcher]\nmin_workers = 4\ndraining_shards = 4\nmoving_shards = 4,5\n';
    expect(() => parseIni(text, { file: 'sd.ini', env })).toThrow(ConfigKeyError);
    expect(() => parseIni(text, { file: 'sd.ini', env })).toThrow(
      'sd.ini:4: [dispatcher] moving_shards = "4,5" includes shard 5, which is not in draining_shards (4); ' +
        'a backlog is moved only from a draining shard whose worker is stopped',
    );
  });

  it('rejects a live shard, a repeated shard and a list that is not numbers', () => {
    const draining = '[dispatcher]\nmin_workers = 4\ndraining_shards = 4\n';
    expect(() => parseIni(`${draining}moving_shards = 2\n`, { env })).toThrow(
      'moving_shards = "2" includes shard 2, which is not in draining_shards (4)',
    );
    expect(() => parseIni(`${draining}moving_shards = 4,4\n`, { env })).toThrow(
      'moving_shards = "4,4" lists shard 4 twice',
    );
    expect(() => parseIni(`${draining}moving_shards = four\n`, { env })).toThrow(
      'moving_shards = "four" is not a comma-separated list of shard numbers',
    );
    expect(() => parseIni('[dispatcher]\nmoving_shards = 4\n', { env })).toThrow(
      'which is not in draining_shards (none)',
    );
  });

  it('renders the key only when set, and round-trips it', () => {
    const config = withShards([4, 5], [5]);
    const text = renderIni(config);
    expect(text).toContain('\nmoving_shards = 5\n');
    expect(parseIni(text, { env })).toStrictEqual(config);
    expect(renderIni(withShards([4, 5], undefined))).not.toContain('moving_shards');
  });

  it('refuses to render moving shards that are not draining', () => {
    expect(() => renderIni(withShards([], [4]))).toThrow(
      '[dispatcher] moving_shards = "4" includes shard 4, which is not in draining_shards',
    );
  });

  it('applies live, without a restart', () => {
    const current = withShards([4], undefined);
    const next = withShards([4], [4]);
    expect(restartKeys(current, next)).toEqual([]);
    expect(withLiveKeys(current, next).dispatcher.movingShards).toEqual([4]);
    expect(withLiveKeys(next, current).dispatcher.movingShards).toBeUndefined();
  });
});
