import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { dlqCommand } from '../../../src/cli/dlq-command.ts';
import { UsageError } from '../../../src/cli/usage-error.ts';
import { encodeEnvelope, type EnvelopeHeader } from '../../../src/queue/index.ts';
import { onBothBackends, type Subject } from './backends.ts';

const header = (reason: string, shard: string): EnvelopeHeader => ({
  reason,
  attempts: 5,
  shard,
  pool: 'default',
  firstFailedAt: '2025-01-01T00:00:00.000Z',
  lastFailedAt: '2025-01-01T00:01:00.000Z',
  kind: 'rejected',
});

onBothBackends((subject) => {
  let s: Subject;
  let dir: string;
  let ini: string;
  beforeEach(async () => {
    s = await subject();
    dir = await mkdtemp(join(tmpdir(), 'sd-dlq-'));
    ini = join(dir, 'sd.ini');
    const base = s.dir ?? dir;
    const nats = s.nats?.options;
    await writeFile(
      ini,
      [
        '[dispatcher]',
        // The replay queue goes with the shard queues, not the main queue.
        `base_path = ${join(dir, 'main')}`,
        'main_queue_name = flow',
        'min_workers = 2',
        'draining_shards = 2',
        `backend = ${s.kind}`,
        '[worker]',
        `worker_base_path = ${base}`,
        ...(nats
          ? [
              '[nats]',
              `url = ${nats.url}`,
              `main_stream = ${nats.mainStream}`,
              `shard_stream = ${nats.shardStream}`,
            ]
          : []),
        '',
      ].join('\n'),
    );
    await s.write('flow-shard-0-dlq', [
      encodeEnvelope(header('timeout', 'flow-shard-0'), Buffer.from('a-1')),
      encodeEnvelope(header('bad json', 'flow-shard-0'), Buffer.from('a-2')),
    ]);
    await s.write('flow-shard-2-dlq', [
      encodeEnvelope(header('timeout', 'flow-shard-2'), Buffer.from([0x00, 0xff])),
    ]);
    await s.write('flow-shard-dlq', [
      encodeEnvelope({ ...header('expired', 'flow-shard-1'), kind: 'expired' }, Buffer.from('c-1')),
    ]);
  });
  afterEach(async () => {
    await s.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(
    argv: string[],
    failpoint?: (name: string) => void,
    signal?: AbortSignal,
  ): Promise<{ code: number; out: string }> {
    let out = '';
    const code = await dlqCommand(
      argv,
      {},
      {
        write: (text) => void (out += text),
        ...(failpoint ? { failpoint } : {}),
        ...(signal ? { signal } : {}),
      },
    );
    return { code, out };
  }

  async function listed(): Promise<{
    total: number;
    queues: { queue: string; messages: number }[];
    reasons: unknown[];
  }> {
    return JSON.parse((await run(['list', '--config', ini, '--json'])).out);
  }

  it('lists every dead-letter queue of the pool with counts and a count by reason', async () => {
    const list = await listed();
    expect(list.total).toBe(4);
    expect(list.queues).toEqual([
      { queue: 'flow-shard-0-dlq', messages: 2 },
      { queue: 'flow-shard-1-dlq', messages: 0 },
      { queue: 'flow-shard-2-dlq', messages: 1 },
      { queue: 'flow-shard-dlq', messages: 1 },
    ]);
    expect(list.reasons).toEqual([
      { reason: 'timeout', messages: 2 },
      { reason: 'bad json', messages: 1 },
      { reason: 'expired', messages: 1 },
    ]);
    const text = (await run(['list', '--config', ini])).out;
    expect(text).toContain('dead letters of pool default: 4');
    expect(text).toMatch(/2\s+timeout/);
    expect(text).not.toContain('of the first');
  });

  it('counts reasons over the first -n dead letters only, and says so', async () => {
    const list = JSON.parse((await run(['list', '--config', ini, '--json', '-n', '3'])).out);
    expect(list.total).toBe(4);
    expect(list.reasonsCounted).toBe(3);
    expect(list.reasons).toEqual([
      { reason: 'timeout', messages: 2 },
      { reason: 'bad json', messages: 1 },
    ]);
    const text = (await run(['list', '--config', ini, '-n', '1'])).out;
    expect(text).toContain('dead letters of pool default: 4');
    expect(text).toContain('MESSAGES  REASON (of the first 1; -n N counts more)');
    expect(text).toMatch(/1\s+timeout\n$/);
  });

  it('shows the first N envelopes and moves nothing', async () => {
    const shown = JSON.parse((await run(['show', '--config', ini, '--json', '-n', '3'])).out);
    expect(shown).toHaveLength(3);
    expect(shown[0]).toMatchObject({
      queue: 'flow-shard-0-dlq',
      payload: 'a-1',
      header: { reason: 'timeout', attempts: 5, shard: 'flow-shard-0' },
    });
    expect(shown[2]).toMatchObject({ queue: 'flow-shard-2-dlq', payload: 'b64:AP8=' });
    expect((await run(['show', '--config', ini])).out).toContain('reason:   bad json');
    expect((await listed()).total).toBe(4);
  });

  it('purges only with --yes, after saying how many', async () => {
    const dry = await run(['purge', '--config', ini]);
    expect(dry.code).toBe(1);
    expect(dry.out).toContain('would purge 4 dead letter(s) of pool default');
    expect((await listed()).total).toBe(4);
    const done = await run(['purge', '--config', ini, '--yes', '--queue', 'flow-shard-0-dlq']);
    expect(done.out).toContain('purged 2 dead letter(s)');
    expect((await listed()).total).toBe(2);
  });

  it('replays every dead letter into the replay queue once, as its original payload', async () => {
    const first = await run(['replay', '--config', ini]);
    expect(first.out).toContain('replayed 4 message(s) of pool default into flow-replay');
    const expected = ['a-1', 'a-2', Buffer.from([0x00, 0xff]).toString('base64'), 'c-1'];
    const replayed = async () =>
      (await s.contents('flow-replay')).map((m, i) =>
        i === 2 ? m.toString('base64') : m.toString(),
      );
    expect(await replayed()).toEqual(expected);
    expect((await listed()).total).toBe(0);
    await run(['replay', '--config', ini]);
    expect(await replayed()).toEqual(expected);
  });

  for (const step of ['after-journal', 'after-append', 'after-flush'] as const) {
    it(`replays exactly once when a replay dies ${step} and is run again`, async () => {
      const crash = new Error(`crash ${step}`);
      await expect(
        run(['replay', '--config', ini, '--queue', 'flow-shard-0-dlq'], (name) => {
          if (name === step) throw crash;
        }),
      ).rejects.toBe(crash);
      await run(['replay', '--config', ini]);
      expect(
        (await s.contents('flow-replay')).map(String).filter((m) => m !== '\u0000\ufffd'),
      ).toEqual(['a-1', 'a-2', 'c-1']);
      expect(await s.contents('flow-replay')).toHaveLength(4);
      expect((await listed()).total).toBe(0);
    });
  }

  it('stops a replay between batches on a signal, exit 130, and the next replay goes on', async () => {
    const stop = new AbortController();
    const first = await run(
      ['replay', '--config', ini],
      (name) => void (name === 'after-commit' && stop.abort('SIGINT')),
      stop.signal,
    );
    expect(first.code).toBe(130);
    expect(first.out).toContain('stopped by SIGINT before the end');
    // The first batch (flow-shard-0-dlq's two) went whole; nothing after it.
    expect((await s.contents('flow-replay')).map(String)).toEqual(['a-1', 'a-2']);
    expect((await listed()).total).toBe(2);
    expect((await run(['replay', '--config', ini])).code).toBe(0);
    expect(await s.contents('flow-replay')).toHaveLength(4);
    expect((await listed()).total).toBe(0);
  });

  it('reaches the dead letters of a shard taken out of the config', async () => {
    await s.write('flow-shard-5-dlq', [
      encodeEnvelope(header('timeout', 'flow-shard-5'), Buffer.from('gone-1')),
    ]);
    const queue = await run(['show', '--config', ini, '--queue', 'flow-shard-5-dlq', '--json']);
    expect(queue.out).toContain('gone-1');
    if (s.kind === 'veda') {
      // Found in the directory without being named.
      expect((await listed()).queues).toContainEqual({ queue: 'flow-shard-5-dlq', messages: 1 });
      await run(['replay', '--config', ini]);
      expect((await s.contents('flow-replay')).map(String)).toContain('gone-1');
    }
  });

  it('finishes a replay interrupted after its commit before purging, so the next replay is not stuck', async () => {
    const crash = new Error('crash after-commit');
    await expect(
      run(['replay', '--config', ini, '--queue', 'flow-shard-0-dlq'], (name) => {
        if (name === 'after-commit') throw crash;
      }),
    ).rejects.toBe(crash);
    // A dead letter that came after: the purge moves dlq-admin past the journalled batch.
    await s.write('flow-shard-0-dlq', [
      encodeEnvelope(header('late', 'flow-shard-0'), Buffer.from('a-3')),
    ]);
    expect((await run(['purge', '--config', ini, '--yes'])).code).toBe(0);
    expect((await listed()).total).toBe(0);
    const next = await run(['replay', '--config', ini]);
    expect(next.out).toContain('replayed 0 message(s)');
    expect((await s.contents('flow-replay')).map(String)).toEqual(['a-1', 'a-2']);
  });

  it('takes the action before or after its flags', async () => {
    const after = await run(['--config', ini, 'list', '--json']);
    expect(after.out).toBe((await run(['list', '--config', ini, '--json'])).out);
    await expect(run(['--config', ini])).rejects.toThrow('unknown dlq action ""');
    await expect(run(['list', '--config', ini, 'extra'])).rejects.toThrow(
      'unexpected argument "extra"',
    );
  });

  it('refuses an unknown pool or queue, naming the ones there are', async () => {
    await expect(run(['list', '--config', ini, '--pool', 'big'])).rejects.toThrow(
      '--pool big is not a pool of this config; use one of default',
    );
    await expect(run(['list', '--config', ini, '--queue', 'x'])).rejects.toBeInstanceOf(UsageError);
  });
});
