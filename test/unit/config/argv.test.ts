import { describe, expect, it } from 'vitest';
import {
  ConfigKeyError,
  defaultConfig,
  quoteArgv,
  renderWorkerArgv,
  splitArgv,
  type DistributorConfig,
} from '../../../src/config/index.ts';

function split(text: string): string[] {
  const result = splitArgv(text);
  if (!result.ok) throw new Error(result.reason);
  return result.args;
}

function withWorker(worker: Partial<DistributorConfig['worker']>): DistributorConfig {
  const base = defaultConfig();
  return { ...base, worker: { ...base.worker, ...worker } };
}

describe('splitArgv', () => {
  it('splits on any run of whitespace', () => {
    expect(split('  python3\t-m   worker.queue_worker \n')).toEqual([
      'python3',
      '-m',
      'worker.queue_worker',
    ]);
  });

  it('keeps single-quoted text literal, backslashes and all', () => {
    expect(split(`--name 'a b' --re '\\d+ "x"'`)).toEqual(['--name', 'a b', '--re', '\\d+ "x"']);
  });

  it('lets double quotes escape only " \\ $ and `', () => {
    expect(split('"a \\"b\\" \\\\ \\$x \\n"')).toEqual(['a "b" \\ $x \\n']);
  });

  it('lets a backslash outside quotes escape the next character', () => {
    expect(split("a\\ b c\\'d")).toEqual(['a b', "c'd"]);
  });

  it('joins adjacent pieces into one word and keeps empty quoted words', () => {
    expect(split(`--x="a b"'c' '' ""`)).toEqual(['--x=a bc', '', '']);
  });

  it('returns no words for blank text', () => {
    expect(split('   ')).toEqual([]);
  });

  it('rejects an unterminated quote or a trailing backslash', () => {
    expect(splitArgv(`a 'b`)).toEqual({
      ok: false,
      reason: "has an unterminated ' quote at character 3",
    });
    expect(splitArgv('a "b')).toEqual({
      ok: false,
      reason: 'has an unterminated " quote at character 3',
    });
    expect(splitArgv('a\\')).toEqual({ ok: false, reason: 'ends with a lone backslash' });
  });
});

describe('quoteArgv', () => {
  it.each([
    [['python3', '-m', 'worker.queue_worker']],
    [['--base', '{worker_base_path}', '--sub', '{sub_queue_name}']],
    [['a b', "it's", '', '"quoted"', 'back\\slash', '$HOME', 'tab\there', 'new\nline']],
  ])('is undone by splitArgv: %j', (args) => {
    expect(split(quoteArgv(args))).toEqual(args);
  });

  it('leaves plain words bare', () => {
    expect(quoteArgv(['--sub', '{sub_queue_name}', './data/q-1'])).toBe(
      '--sub {sub_queue_name} ./data/q-1',
    );
  });
});

describe('renderWorkerArgv', () => {
  it('fills every placeholder for the shard', () => {
    const config = withWorker({
      workerModule: 'node worker.js',
      workerArgsTemplate: '{worker_base_path} {sub_queue_name} {sleep_empty_sec} {src}',
      sleepEmptySec: 2,
    });
    expect(renderWorkerArgv(config, 7)).toEqual([
      'node',
      'worker.js',
      './data/queue-workers',
      'individuals-flow-shard-7',
      '2',
      'queue-shard-distributor',
    ]);
  });

  it('keeps a value with spaces as one argument, because it splits before filling in', () => {
    const config = withWorker({
      workerBasePath: '/mnt/queue dir',
      workerArgsTemplate: '--base {worker_base_path}',
    });
    expect(renderWorkerArgv(config, 0).slice(-2)).toEqual(['--base', '/mnt/queue dir']);
  });

  it('honours quotes in worker_module', () => {
    const config = withWorker({
      workerModule: `"/opt/my worker/bin/run" --mode 'a b'`,
      workerArgsTemplate: '',
    });
    expect(renderWorkerArgv(config, 0)).toEqual(['/opt/my worker/bin/run', '--mode', 'a b']);
  });

  it('writes {{name}} as a literal {name} and leaves other braces alone', () => {
    const config = withWorker({ workerArgsTemplate: `--tag {{src}} --json '{"a":{}}'` });
    expect(renderWorkerArgv(config, 0).slice(-4)).toEqual(['--tag', '{src}', '--json', '{"a":{}}']);
  });

  it('refuses a negative or fractional shard index', () => {
    expect(() => renderWorkerArgv(defaultConfig(), -1)).toThrow(RangeError);
    expect(() => renderWorkerArgv(defaultConfig(), 1.5)).toThrow(RangeError);
  });

  it('throws a ConfigKeyError for a hand-built config with an unterminated quote', () => {
    const config = withWorker({ workerArgsTemplate: `--base '{worker_base_path}` });
    expect(() => renderWorkerArgv(config, 0)).toThrow(ConfigKeyError);
  });
});
