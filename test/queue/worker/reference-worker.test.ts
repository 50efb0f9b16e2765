import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeOutputLine, workerMain, WorkerArgsError } from '../../../src/worker/index.ts';
import { createLogger } from '../../../src/observability/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { harness, writeTo, type Harness } from '../helpers.ts';

describe('reference worker', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const payloads = [Buffer.from('id-1'), Buffer.from([0x92, 0x00, 0xff]), Buffer.from('id-3\n')];

  const write = (queue: string, messages: Buffer[]) => writeTo(h.backend, queue, messages);

  async function lines(path: string): Promise<Buffer[]> {
    const text = await readFile(path, 'utf8').catch(() => '');
    return text
      .split('\n')
      .slice(0, -1)
      .map((line) => decodeOutputLine(line));
  }

  it('consumes its shard as --src and writes one line per message to --out', async () => {
    await write('individuals-flow-shard-0', payloads);
    const out = join(h.dir, 'out.txt');
    const controller = new AbortController();
    const done = workerMain(
      [
        '--base',
        h.dir,
        '--sub',
        'individuals-flow-shard-0',
        '--src',
        'queue-shard-distributor',
        '--sleep-empty',
        '0.05',
        '--out',
        out,
      ],
      {},
      controller.signal,
      { log: h.logger },
    );
    await eventually(async () => expect(await lines(out)).toEqual(payloads));
    await eventually(async () =>
      expect(await h.backend.backlog('individuals-flow-shard-0', 'queue-shard-distributor')).toBe(
        0,
      ),
    );
    controller.abort();
    expect((await done).processed).toBe(3);

    // A second run appends only what is new.
    await write('individuals-flow-shard-0', [Buffer.from('id-4')]);
    const again = new AbortController();
    const second = workerMain(
      [
        '--base',
        h.dir,
        '--sub',
        'individuals-flow-shard-0',
        '--src',
        'queue-shard-distributor',
        '--out',
        out,
      ],
      {},
      again.signal,
      { log: h.logger },
    );
    await eventually(async () => expect(await lines(out)).toHaveLength(4));
    again.abort();
    expect((await second).processed).toBe(1);
    expect((await lines(out)).at(-1)).toEqual(Buffer.from('id-4'));
  });

  it('only counts without --out', async () => {
    await write('s', payloads);
    const controller = new AbortController();
    const done = workerMain(
      ['--base', h.dir, '--sub', 's', '--src', 'c', '--sleep-empty', '0.05'],
      {},
      controller.signal,
      { log: h.logger },
    );
    await eventually(async () => expect(await h.backend.backlog('s', 'c')).toBe(0));
    controller.abort();
    expect((await done).processed).toBe(3);
  });

  it('serves its metrics with --metrics-port: the rejects its failure policy counted', async () => {
    await write('m', [Buffer.from('ok-1'), Buffer.from('bad-2'), Buffer.from('ok-3')]);
    const controller = new AbortController();
    const logs: Record<string, unknown>[] = [];
    const log = createLogger(
      { level: 'info' },
      { write: (line: string) => void logs.push(JSON.parse(line)) },
    );
    const done = workerMain(
      [
        '--base',
        h.dir,
        '--sub',
        'm',
        '--src',
        'c',
        '--sleep-empty',
        '0.05',
        '--reject-matching',
        '^bad',
        '--metrics-port',
        '0',
      ],
      { SD_FAILURE_POLICY: 'DeadLetter', SD_MAX_ATTEMPTS: '1' },
      controller.signal,
      { log },
    );
    try {
      const port = await eventually(() => {
        const served = logs.find((l) => l['msg'] === 'worker metrics served');
        expect(served).toBeDefined();
        return Number(served!['port']);
      });
      await eventually(async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(text).toMatch(
          /^shard_distributor_worker_rejected_total\{[^}]*outcome="dead_letter"[^}]*\} 1$/m,
        );
      });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      controller.abort();
      await done;
    }
  });

  it('rejects a bad flag before touching any queue', async () => {
    await expect(
      workerMain(
        ['--base', h.dir, '--sub', 's', '--src', 'c', '--sleep', '1'],
        {},
        new AbortController().signal,
      ),
    ).rejects.toBeInstanceOf(WorkerArgsError);
  });
});
