import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig, natsEnv, NatsEnvError } from '../../../src/config/index.ts';
import { decodeEnvelope } from '../../../src/queue/index.ts';
import { decodeOutputLine, workerMain } from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { NatsServer } from '../../harness/nats-server.ts';
import { natsHarness, texts, writeTo, type NatsHarness } from '../nats/helpers.ts';

// The reference worker on the nats backend, told where its shard queue is only by the
// SD_NATS_* variables run mode and the operator give it (natsEnv of the distributor's config).
describe('reference worker on nats', () => {
  let server: NatsServer;
  let h: NatsHarness;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });
  beforeEach(async () => {
    // Default subject prefixes: the worker knows only the stream names, as an INI gives them.
    h = await natsHarness(server, { mainSubjectPrefix: undefined, shardSubjectPrefix: undefined });
    dir = await mkdtemp(join(tmpdir(), 'sd-worker-nats-'));
    const base = defaultConfig();
    env = natsEnv({
      ...base,
      dispatcher: { ...base.dispatcher, backend: 'nats', mainQueueName: h.options.mainQueue },
      nats: {
        url: server.url,
        mainStream: h.options.mainStream!,
        shardStream: h.options.shardStream!,
      },
    });
  });
  afterEach(async () => {
    await h.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const write = (queue: string, messages: Buffer[]) => writeTo(h.backend, queue, messages);

  async function lines(path: string): Promise<string[]> {
    const text = await readFile(path, 'utf8').catch(() => '');
    return text
      .split('\n')
      .slice(0, -1)
      .map((line) => decodeOutputLine(line).toString());
  }

  const run = (argv: string[], extraEnv: Record<string, string> = {}) => {
    const controller = new AbortController();
    const done = workerMain(argv, { ...env, ...extraEnv, LOG_LEVEL: 'silent' }, controller.signal);
    return { stop: () => controller.abort(), done };
  };

  it('consumes its shard with no --base and no --backend, once across a restart', async () => {
    await write('main-shard-0', texts('m', 3));
    const out = join(dir, 'out.txt');
    const argv = ['--sub', 'main-shard-0', '--src', 'w', '--sleep-empty', '0.05', '--out', out];
    const first = run(argv);
    await eventually(async () => expect(await lines(out)).toEqual(['m-1', 'm-2', 'm-3']));
    await eventually(async () => expect(await h.backend.backlog('main-shard-0', 'w')).toBe(0));
    first.stop();
    expect((await first.done).processed).toBe(3);

    await write('main-shard-0', texts('m', 1, 4));
    const second = run(argv);
    await eventually(async () => expect(await lines(out)).toHaveLength(4));
    second.stop();
    expect((await second.done).processed).toBe(1);
    expect(await lines(out)).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
  });

  it('dead-letters what it rejects by the failure policy, with no journal directory', async () => {
    await write('main-shard-1', [...texts('ok', 2), Buffer.from('poison-1')]);
    const worker = run(
      [
        '--sub',
        'main-shard-1',
        '--src',
        'w',
        '--sleep-empty',
        '0.02',
        '--reject-matching',
        '^poison',
      ],
      { SD_FAILURE_POLICY: 'DeadLetter', SD_MAX_ATTEMPTS: '2', SD_RETRY_BACKOFF_SEC: '0.01' },
    );
    await eventually(async () =>
      expect(await h.backend.backlog('main-shard-1-dlq', 'reader')).toBe(1),
    );
    worker.stop();
    expect((await worker.done).rejected).toMatchObject({ retry: 1, deadLetter: 1 });
    const [letter] = await h.backend.peek('main-shard-1-dlq', 10);
    expect(decodeEnvelope(letter!)).toMatchObject({
      header: { attempts: 2, shard: 'main-shard-1' },
    });
  });

  it('names the variable that is missing, before connecting', async () => {
    const { SD_MAIN_QUEUE: _, ...withoutQueue } = env;
    await expect(
      workerMain(
        ['--backend', 'nats', '--sub', 's', '--src', 'w'],
        withoutQueue,
        new AbortController().signal,
      ),
    ).rejects.toThrow(NatsEnvError);
    await expect(
      workerMain(
        ['--backend', 'nats', '--sub', 's', '--src', 'w'],
        {},
        new AbortController().signal,
      ),
    ).rejects.toThrow('environment variable SD_NATS_URL is not set');
  });
});
