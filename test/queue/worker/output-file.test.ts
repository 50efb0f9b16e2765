import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputFile } from '../../../src/worker/output-file.ts';
import { harness, type Harness } from '../helpers.ts';

describe('reference worker output file', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  /** Opens `before` as an output file, appends one batch of `next`, and returns the text. */
  async function appendAfter(before: string, next: string[]): Promise<string> {
    const path = join(h.dir, 'out.txt');
    await writeFile(path, before);
    const out = await OutputFile.open(path, h.logger);
    for (const line of next) out.add(Buffer.from(line));
    await out.flush();
    await out.close();
    return readFile(path, 'utf8');
  }

  const cuts = () => h.logs.filter((l) => l.msg.startsWith('output file ended in part of a line'));

  it('appends after whole lines and leaves them alone', async () => {
    expect(await appendAfter('id-1\nid-2\n', ['id-3'])).toBe('id-1\nid-2\nid-3\n');
    expect(await appendAfter('', ['id-1'])).toBe('id-1\n');
    expect(cuts()).toEqual([]);
  });

  it('cuts the part of a line a killed worker left, so the line written again stands alone', async () => {
    // The write of `chaos-w2-0300` was cut after 6 bytes; its batch is processed again.
    expect(await appendAfter('chaos-w2-0299\nchaos-', ['chaos-w2-0300'])).toBe(
      'chaos-w2-0299\nchaos-w2-0300\n',
    );
    expect(cuts()).toMatchObject([{ level: 'warn', bytes: 6 }]);
  });

  it('finds the last line break further back than one read', async () => {
    const torn = 'x'.repeat(200_000);
    expect(await appendAfter(`id-1\n${torn}`, ['id-2'])).toBe('id-1\nid-2\n');
    expect(cuts()).toMatchObject([{ bytes: torn.length }]);
  });

  it('writes to what is not a regular file without reading or syncing it', async () => {
    const out = await OutputFile.open('/dev/null', h.logger);
    out.add(Buffer.from('id-1'));
    await out.flush();
    await out.close();
    expect(cuts()).toEqual([]);
  });

  it('empties a file that holds only part of its first line', async () => {
    expect(await appendAfter('chaos-w2-00', ['chaos-w2-0000'])).toBe('chaos-w2-0000\n');
    expect(cuts()).toMatchObject([{ bytes: 11 }]);
  });
});
