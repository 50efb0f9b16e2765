import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, defaultNatsConfig, renderIni } from '../../src/config/index.ts';
import { NatsServer } from '../harness/nats-server.ts';
import { REPO_ROOT } from '../harness/tools.ts';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, 'queue', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
let server: NatsServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sd-queue-cli-'));
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('shard-distributor queue', () => {
  it('pushes, shows and peeks a Veda queue given its directory', () => {
    expect(cli('push', '--base', dir, 'orders', 'one', 'two', 'three').stdout).toBe(
      'pushed 3 message(s) to orders\n',
    );
    const stat = cli('stat', '--base', dir, 'orders');
    expect(stat.stdout).toMatch(/queue orders \(veda\) in .*: 3 message\(s\)/);
    expect(stat.stdout).toMatch(/PART\s+PUSHED\s+BYTES\n0\s+3\s+\d+/);
    expect(cli('tail', '--base', dir, 'orders', '-n', '2').stdout).toBe('one\ntwo\n');
    expect(JSON.parse(cli('stat', '--base', dir, 'orders', '--json').stdout)).toMatchObject({
      messages: 3,
      consumers: [],
    });
  });

  it('looks at a Veda queue without leaving a consumer behind, even when one is named', async () => {
    expect(cli('push', '--base', dir, 'looked', 'one', 'two').status).toBe(0);
    expect(cli('tail', '--base', dir, 'looked', '--consumer', 'someone').stdout).toBe('one\ntwo\n');
    expect(cli('tail', '--base', dir, 'looked').stdout).toBe('one\ntwo\n');
    // A consumer that only looked would keep retention from deleting any part, for ever.
    expect(JSON.parse(cli('stat', '--base', dir, 'looked', '--json').stdout)).toMatchObject({
      consumers: [],
    });
    expect(readdirSync(dir).filter((f) => f.startsWith('looked_info_pop'))).toEqual([]);
    // A damaged pop file is its owner's to find, not set aside by a look.
    await writeFile(join(dir, 'looked_info_pop_broken'), 'garbage\n');
    expect(cli('tail', '--base', dir, 'looked', '--consumer', 'broken').stdout).toBe('one\ntwo\n');
    expect(readFileSync(join(dir, 'looked_info_pop_broken'), 'utf8')).toBe('garbage\n');
  });

  it('says a Veda queue that is not there is not there, rather than empty', () => {
    const stat = cli('stat', '--base', dir, 'no-such-queue');
    expect(stat.stderr).toContain(
      `queue no-such-queue not found in ${dir} (no no-such-queue_info_queue and no part directory); check the queue name and the base path`,
    );
    expect(stat.status).toBe(1);
  });

  it('works on the nats backend through the distributor INI', async () => {
    const base = defaultConfig();
    const file = join(dir, 'nats.ini');
    await writeFile(
      file,
      renderIni({
        ...base,
        dispatcher: { ...base.dispatcher, backend: 'nats', mainQueueName: 'orders' },
        nats: {
          ...defaultNatsConfig(server.url),
          mainStream: 'CLI_MAIN',
          shardStream: 'CLI_SHARDS',
        },
      }),
    );
    expect(cli('push', '--config', file, 'orders', 'a', 'b').stdout).toBe(
      'pushed 2 message(s) to orders\n',
    );
    expect(cli('push', '--config', file, 'orders-shard-1', 'x').status).toBe(0);
    expect(cli('stat', '--config', file, 'orders').stdout).toMatch(
      /queue orders \(nats\) in stream CLI_MAIN, subject sd\.CLI_MAIN\.orders: 2 message\(s\)/,
    );
    expect(cli('stat', '--config', file, 'orders-shard-1').stdout).toMatch(
      /stream CLI_SHARDS.*: 1 message\(s\)/,
    );
    expect(cli('tail', '--config', file, 'orders').stdout).toBe('a\nb\n');
  });

  it('says what is wrong with a bad call', () => {
    const neither = cli('stat', 'orders');
    expect(neither.status).toBe(2);
    expect(neither.stderr).toContain('give exactly one of --base DIR or --config FILE');
    const missing = cli('stat', '--config', join(dir, 'nope.ini'), 'orders');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope\.ini: no such config file/);
  });
});
