import { describe, expect, it } from 'vitest';
import {
  WorkerArgsError,
  decodeOutputLine,
  encodeOutputLine,
  parseWorkerArgs,
} from '../../../src/worker/index.ts';

describe('parseWorkerArgs', () => {
  it('reads the flags the original worker_args_template passes', () => {
    expect(
      parseWorkerArgs([
        '--base',
        './data/queue-workers',
        '--sub',
        'individuals-flow-shard-2',
        '--src',
        'queue-shard-distributor',
        '--sleep-empty',
        '0.5',
      ]),
    ).toEqual({
      backend: 'veda',
      base: './data/queue-workers',
      sub: 'individuals-flow-shard-2',
      src: 'queue-shard-distributor',
      sleepEmptySec: 0.5,
      batchSize: 100,
    });
  });

  it('takes --flag=value, --batch-size and --out', () => {
    expect(
      parseWorkerArgs(['--base=/q', '--sub=s', '--src=c', '--batch-size=7', '--out', '/tmp/o']),
    ).toMatchObject({ base: '/q', batchSize: 7, out: '/tmp/o', sleepEmptySec: 0.5 });
  });

  it('takes --metrics-port as a port, and refuses what is none', () => {
    expect(
      parseWorkerArgs(['--base=/q', '--sub=s', '--src=c', '--metrics-port', '0']),
    ).toMatchObject({
      metricsPort: 0,
    });
    expect(() =>
      parseWorkerArgs(['--base=/q', '--sub=s', '--src=c', '--metrics-port', '70000']),
    ).toThrow('--metrics-port 70000 is not a port (0-65535)');
  });

  it('takes nats when SD_NATS_URL is set or --backend says so, and needs no --base then', () => {
    const nats = { SD_NATS_URL: 'nats://127.0.0.1:4222' };
    expect(parseWorkerArgs(['--sub', 's', '--src', 'c'], nats)).toMatchObject({
      backend: 'nats',
      sub: 's',
    });
    expect(parseWorkerArgs(['--backend', 'nats', '--sub', 's', '--src', 'c'])).not.toHaveProperty(
      'base',
    );
    // The flag decides over the environment.
    expect(
      parseWorkerArgs(['--backend', 'veda', '--base', '/q', '--sub', 's', '--src', 'c'], nats),
    ).toMatchObject({ backend: 'veda', base: '/q' });
  });

  it.each([
    [['--base', '/q', '--sub', 's', '--src', 'c', '--bogus', 'x'], /Unknown option '--bogus'/],
    [['--base', '/q', '--sub', 's'], /missing --src/],
    [['--base', '/q', '--sub', 's', '--src', 'c', '--sleep-empty', 'soon'], /--sleep-empty "soon"/],
    [['--base', '/q', '--sub', 's', '--src', 'c', '--sleep-empty=-1'], /--sleep-empty "-1"/],
    [['--base', '/q', '--sub', 's', '--src', 'c', '--batch-size', '1.5'], /--batch-size "1.5"/],
    [['--base', '/q', '--sub', 's', '--src', 'c', 'extra'], /extra/],
    [['--base', '/q', '--sub', 's', '--src'], /--src/],
    [['--base', '/q', '--sub', 's', '--src', 'c', '--backend', 'kafka'], /--backend "kafka"/],
    [['--sub', 's', '--src', 'c'], /missing --base/],
  ])('refuses %j with an error naming the flag', (argv, message) => {
    expect(() => parseWorkerArgs(argv)).toThrow(WorkerArgsError);
    expect(() => parseWorkerArgs(argv)).toThrow(message);
    expect(() => parseWorkerArgs(argv)).toThrow(
      expect.objectContaining({ code: 'SD_ERR_WORKER_ARGS' }),
    );
  });
});

describe('output lines', () => {
  it('writes a one-line UTF-8 payload as itself', () => {
    expect(encodeOutputLine(Buffer.from('msg-17 żółw'))).toBe('msg-17 żółw');
  });

  it.each([
    ['a line break', Buffer.from('two\nlines')],
    ['a carriage return', Buffer.from('a\rb')],
    ['invalid UTF-8', Buffer.from([0x92, 0xa3, 0x61, 0xff])],
    ['the base64 marker', Buffer.from('b64:looks encoded')],
  ])('writes a payload with %s as base64, and reads it back byte for byte', (_, payload) => {
    const line = encodeOutputLine(payload);
    expect(line).toMatch(/^b64:[A-Za-z0-9+/=]*$/);
    expect(decodeOutputLine(line)).toEqual(payload);
  });

  it('reads back what it wrote, a byte-order mark included', () => {
    for (const payload of [Buffer.from('\ufeffbom'), Buffer.alloc(0), Buffer.from('plain')]) {
      expect(decodeOutputLine(encodeOutputLine(payload))).toEqual(payload);
    }
  });
});
