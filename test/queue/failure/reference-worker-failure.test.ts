import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../../src/queue/index.ts';
import { workerMain } from '../../../src/worker/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { harness, texts, type Harness } from '../helpers.ts';

describe('reference worker with a failure policy from the environment', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('dead-letters what --reject-matching rejects, after SD_MAX_ATTEMPTS', async () => {
    const writer = await h.backend.openWriter('q-0');
    await writer.append([...texts('ok', 2), Buffer.from('poison-1')]);
    await writer.flush();
    await writer.close();
    const controller = new AbortController();
    const done = workerMain(
      [
        '--base',
        h.dir,
        '--sub',
        'q-0',
        '--src',
        'w',
        '--sleep-empty',
        '0.02',
        '--reject-matching',
        '^poison',
      ],
      {
        SD_FAILURE_POLICY: 'DeadLetter',
        SD_MAX_ATTEMPTS: '2',
        SD_RETRY_BACKOFF_SEC: '0.01',
        SD_POOL: 'big',
      },
      controller.signal,
      { log: h.logger },
    );
    await eventually(async () => expect(await h.backend.backlog('q-0-dlq', 'reader')).toBe(1));
    controller.abort();
    const report = await done;
    expect(report.rejected).toMatchObject({ retry: 1, deadLetter: 1 });
    const [letter] = await h.backend.peek('q-0-dlq', 10);
    expect(decodeEnvelope(letter!)).toMatchObject({
      header: {
        attempts: 2,
        shard: 'q-0',
        pool: 'big',
        reason: 'matches --reject-matching ^poison',
      },
    });
  });

  it('refuses a bad SD_* variable before touching a queue', async () => {
    await expect(
      workerMain(
        ['--base', h.dir, '--sub', 'q-0', '--src', 'w'],
        { SD_FAILURE_POLICY: 'Maybe' },
        new AbortController().signal,
        {
          log: h.logger,
        },
      ),
    ).rejects.toMatchObject({ code: 'SD_ERR_FAILURE_ENV' });
  });
});
