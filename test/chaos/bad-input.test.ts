import { readdirSync, readFileSync } from 'node:fs';
import { open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { headers, connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  defaultNatsConfig,
  renderIni,
  type DistributorConfig,
} from '../../src/config/index.ts';
import { createNatsBackend, createVedaBackend, type QueueBackend } from '../../src/queue/index.ts';
import { bench, MAIN, type Bench } from '../distributor/helpers.ts';
import { eventually } from '../harness/eventually.ts';
import { NatsServer } from '../harness/nats-server.ts';
import { REPO_ROOT } from '../harness/tools.ts';
import { audit, cliProcess } from './helpers.ts';

const tried = { ini: 0, queueFiles: 0, nats: 0 };
afterAll(() => {
  console.log(
    `bad-input corpus: ${tried.ini} malformed INI files, ${tried.queueFiles} corrupt queue-file cases, ` +
      `${tried.nats} malformed NATS messages tried (ShardDistributors: test/e2e/bad-sd-corpus.test.ts)`,
  );
});

/** Runs `tasks` at most `limit` at a time (processes on 2 cores). */
async function pooled<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return results;
}

describe('malformed INI files at the distributor entry point', () => {
  const dir = join(REPO_ROOT, 'test', 'fixtures', 'bad-ini');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ini'))
    .sort();

  it('refuses each with one exit 1 naming the file, the code and what is wrong — no stack, no retry loop', async () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
    const outcomes = await pooled(
      files.map((name) => async () => {
        const file = join(dir, name);
        const [, code, fragment] = /^# (SD_ERR_CONFIG_[A-Z]+): (.+)$/.exec(
          readFileSync(file, 'utf8').split('\n')[0] ?? '',
        ) ?? ['', '', ''];
        const exit = await cliProcess(['distributor', '--config', file, '--metrics-port', '0'])
          .exited;
        return { name, code, fragment, exit };
      }),
      4,
    );
    for (const { name, code, fragment, exit } of outcomes) {
      tried.ini++;
      expect(code, `${name} names its expected code`).not.toBe('');
      expect({ name, code: exit.code, signal: exit.signal }).toEqual({
        name,
        code: 1,
        signal: null,
      });
      expect(exit.output, name).toContain(name);
      expect(exit.output, name).toContain(code);
      expect(exit.output, name).toContain(fragment);
      expect(exit.output, `${name}: a stack trace instead of a message`).not.toMatch(/\n\s+at /);
      // Started once and gave up: it never got as far as serving or distributing.
      expect(exit.output, name).not.toContain('distributor started');
    }
    console.log(`bad-input: ${outcomes.length} malformed INI files refused at start-up`);
  });
});

/** A main queue of 3 parts × 10 records, `p<part>-<n>`, written by the real writer. */
async function threeParts(b: Bench): Promise<string[]> {
  const all: string[] = [];
  // Small parts: the writer starts a new part before each batch once the current one is full.
  const backend = createVedaBackend({ basePath: b.mainDir, durable: false, maxPartBytes: 200 });
  const writer = await backend.openWriter(MAIN);
  for (let part = 0; part < 3; part++) {
    const ids = Array.from({ length: 10 }, (_, i) => `p${part}-${String(i).padStart(2, '0')}`);
    await writer.append(ids.map((id) => Buffer.from(id)));
    await writer.flush();
    all.push(...ids);
  }
  await writer.close();
  await backend.close();
  return all;
}

const partDir = (b: Bench, part: number) => join(b.mainDir, `${MAIN}-${part}`);
const partFile = (b: Bench, part: number) => join(partDir(b, part), `${MAIN}_queue`);

/** Byte offsets of the records of a part file (25-byte header, length at byte 8). */
async function offsets(file: string): Promise<number[]> {
  const buf = await readFile(file);
  const out: number[] = [];
  for (let at = 0; at < buf.length; at += 25 + buf.readUInt32LE(at + 8)) out.push(at);
  return out;
}

async function patch(file: string, at: number, bytes: Buffer): Promise<void> {
  const handle = await open(file, 'r+');
  await handle.write(bytes, 0, bytes.length, at);
  await handle.close();
}

interface CorruptCase {
  name: string;
  /** Damages the queue; returns the ids that are no longer there to be read. */
  damage(b: Bench): Promise<string[]>;
  /** What the distributor's log must say about it. */
  logged: RegExp;
  /** What `queue stat` must say about it, when the damage is in a file stat reads. */
  stat?: RegExp;
}

const corruptCases: CorruptCase[] = [
  {
    name: 'a record with a bad CRC',
    async damage(b) {
      const at = (await offsets(partFile(b, 0)))[3]!;
      await patch(partFile(b, 0), at + 25, Buffer.from('X'));
      return ['p0-03'];
    },
    logged: /corrupt record set aside.*"reason":"crc"|"reason":"crc".*corrupt record set aside/,
  },
  {
    name: 'a torn tail (a header without its body) in an older part',
    async damage(b) {
      const at = (await offsets(partFile(b, 0))).at(-1)!;
      await truncate(partFile(b, 0), at + 25);
      return ['p0-09'];
    },
    logged: /"reason":"torn_tail"/,
  },
  {
    name: 'garbage over a record header in the middle of a part',
    async damage(b) {
      const at = (await offsets(partFile(b, 1)))[4]!;
      await patch(partFile(b, 1), at, Buffer.from('\u0000garbage\u00ff\u00fe garbage'));
      return ['p1-04'];
    },
    logged: /corrupt record set aside/,
  },
  {
    name: 'a truncated info_push file',
    async damage(b) {
      const file = join(partDir(b, 1), `${MAIN}_info_push`);
      const text = await readFile(file);
      await writeFile(file, text.subarray(0, Math.floor(text.length / 2)));
      return [];
    },
    logged: /corrupt info file set aside/,
    stat: /expected 4 fields, found 2/,
  },
  {
    name: 'a missing part',
    async damage(b) {
      await rm(partDir(b, 1), { recursive: true });
      return Array.from({ length: 10 }, (_, i) => `p1-${String(i).padStart(2, '0')}`);
    },
    logged: /missing part skipped/,
  },
  {
    name: 'garbage in info_queue',
    async damage(b) {
      await writeFile(join(b.mainDir, `${MAIN}_info_queue`), Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      return [];
    },
    logged: /corrupt info file set aside/,
  },
  {
    name: "garbage in the distributor's pop file before it first ran",
    async damage(b) {
      await writeFile(
        join(b.mainDir, `${MAIN}_info_pop_${b.config.dispatcher.consumerName}`),
        'not,a,pop,file\n\u0000',
      );
      return [];
    },
    logged: /corrupt info file set aside|pop/,
  },
];

describe('corrupt queue files at the distributor and `queue stat`', () => {
  let b: Bench | undefined;
  afterEach(async () => b?.cleanup());

  it.each(corruptCases)('$name: a clear report, every good record delivered once', async (c) => {
    tried.queueFiles++;
    b = await bench({ minWorkers: 2, batchSize: 7 });
    const all = await threeParts(b);
    const gone = new Set(await c.damage(b));
    const stat = await cliProcess(['queue', 'stat', '--base', b.mainDir, MAIN]).exited;
    expect(stat.code, stat.output).toBe(0);
    expect(stat.output).not.toMatch(/\n\s+at /);
    if (c.stat) expect(stat.output).toMatch(c.stat);
    const ini = join(b.dir, 'corrupt.ini');
    await writeFile(
      ini,
      renderIni({ ...b.config, dispatcher: { ...b.config.dispatcher, durable: true } }),
    );
    const p = cliProcess(['distributor', '--config', ini, '--metrics-port', '0']);
    try {
      await eventually(async () => expect(await b!.committedMain()).toBe(0), { timeoutMs: 60_000 });
      // Stays up and idle on a queue it has passed, instead of crashing or re-reading in a loop.
      await eventually(() => expect(p.output()).toMatch(c.logged), { timeoutMs: 10_000 });
      expect(p.child.exitCode).toBeNull();
    } finally {
      p.child.kill('SIGTERM');
    }
    const exit = await p.exited;
    expect(exit.code, exit.output.slice(-2000)).toBe(0);
    const expected = all.filter((id) => !gone.has(id));
    const result = audit((await b.shardContents(2)).values(), expected);
    expect(result).toMatchObject({ lost: [], duplicated: [], unexpected: [] });
    console.log(
      `bad-input queue files: ${c.name}: ${result.distinct} of ${all.length} records delivered once, ` +
        `${gone.size} damaged beyond reading; reported as ${c.logged.source.slice(0, 40)}`,
    );
  });
});

describe('malformed NATS messages on the main subject', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const backends: QueueBackend[] = [];
  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    for (const backend of backends) await backend.close();
    await nc?.close();
    await server?.dispose();
  });

  it('delivers each as opaque bytes to exactly one shard; nothing crashes', async () => {
    const base = defaultConfig();
    const id = `B${process.pid}`;
    const config: DistributorConfig = {
      ...base,
      dispatcher: {
        ...base.dispatcher,
        backend: 'nats',
        mainQueueName: 'main',
        minWorkers: 3,
        batchSize: 4,
      },
      worker: { ...base.worker, subQueuePrefix: 'shard' },
      nats: {
        ...defaultNatsConfig(server.url),
        mainStream: `MAIN_${id}`,
        shardStream: `SHARDS_${id}`,
      },
    };
    const backend = await createNatsBackend({ ...config.nats!, mainQueue: 'main' });
    backends.push(backend);
    // Creates the streams the way the distributor expects them.
    await (await backend.openWriter('main')).close();
    const subject = `sd.${config.nats!.mainStream}.main`;
    const js = jetstream(nc);
    const sent: Buffer[] = [];
    const publish = async (data: Uint8Array, h?: ReturnType<typeof headers>) => {
      await js.publish(subject, data, h ? { headers: h } : undefined);
      sent.push(Buffer.from(data));
    };
    const withHeaders = (entries: [string, string][]) => {
      const h = headers();
      for (const [k, v] of entries) h.append(k, v);
      return h;
    };
    await publish(new Uint8Array());
    await publish(Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]));
    await publish(Buffer.from('HMSG sd.x 1 2 3\r\nNATS/1.0\r\n\r\n'));
    await publish(Buffer.from('line one\nline two\r\n'));
    await publish(Buffer.from('b64:not-really-base64'));
    await publish(Buffer.alloc(512 * 1024, 0x61));
    await publish(Buffer.from('{"json": true, "but": "unexpected'));
    await publish(Buffer.from('odd headers'), withHeaders([['X-Binary', 'a\u0001b']]));
    await publish(
      Buffer.from('many headers'),
      withHeaders(Array.from({ length: 50 }, (_, i) => [`X-H${i}`, 'v'] as [string, string])),
    );
    await publish(Buffer.from('empty header value'), withHeaders([['X-Empty', '']]));
    await publish(
      Buffer.from('repeated header'),
      withHeaders([
        ['X-Rep', '1'],
        ['X-Rep', '2'],
      ]),
    );
    await publish(
      Buffer.from('a foreign Nats-Msg-Id'),
      withHeaders([['Nats-Msg-Id', 'main:999999']]),
    );
    await publish(
      Buffer.from('a Nats-Expected-Stream header'),
      withHeaders([['Nats-Expected-Stream', config.nats!.mainStream]]),
    );
    await publish(
      Buffer.from('a Veda-looking payload'),
      withHeaders([['Content-Type', 'application/x-veda']]),
    );
    await publish(Buffer.from('\u{1F600} unicode \u0000 nul'));
    // Not on the main queue's subject: never ours to move.
    await js.publish(`sd.${config.nats!.mainStream}.other`, Buffer.from('someone else'));
    tried.nats = sent.length + 1;
    const ini = join(server.dir, 'bad-nats.ini');
    await writeFile(ini, renderIni(config));
    const p = cliProcess(['distributor', '--config', ini, '--metrics-port', '0']);
    try {
      await eventually(
        async () => expect(await backend.backlog('main', config.dispatcher.consumerName)).toBe(0),
        { timeoutMs: 60_000 },
      );
      expect(p.child.exitCode).toBeNull();
    } finally {
      p.child.kill('SIGTERM');
    }
    const exit = await p.exited;
    expect(exit.code, exit.output.slice(-2000)).toBe(0);
    const got: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const consumer = await backend.openConsumer(`shard-${i}`, 'audit');
      const list: string[] = [];
      for (;;) {
        const batch = await consumer.read(100);
        if (batch.messages.length === 0) break;
        list.push(...batch.messages.map((m) => m.data.toString('base64')));
        await consumer.commit(batch.next);
      }
      await consumer.close();
      got.push(list);
    }
    const result = audit(
      got,
      sent.map((s) => s.toString('base64')),
    );
    console.log(
      `bad-input nats: ${sent.length} odd messages on the main subject (+1 on a foreign subject): ` +
        `${result.distinct} delivered byte-identical, lost ${result.lost.length}, duplicated ${result.duplicated.length}`,
    );
    // Two of them are equal (nothing special about that): count records, not distinct values.
    expect(result).toMatchObject({ lost: [], unexpected: [], records: sent.length });
  });
});
