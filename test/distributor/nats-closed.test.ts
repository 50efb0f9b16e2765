import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultConfig, defaultNatsConfig, renderIni } from '../../src/config/index.ts';
import { eventually } from '../harness/eventually.ts';
import { NatsServer } from '../harness/nats-server.ts';
import { distributorProcess } from './process-helpers.ts';

let server: NatsServer;
let dir: string;
beforeAll(async () => {
  // A config file from the start, so a restart can read a changed one.
  server = await NatsServer.start({ config: '# no authorization yet\n' });
  dir = await mkdtemp(join(tmpdir(), 'sd-dist-closed-'));
});
afterAll(async () => {
  await server?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** A distributor INI on this file's server, main queue `queue`. */
async function natsIni(queue: string): Promise<string> {
  const base = defaultConfig();
  const file = join(dir, `${queue}.ini`);
  await writeFile(
    file,
    renderIni({
      ...base,
      dispatcher: { ...base.dispatcher, backend: 'nats', mainQueueName: queue },
      nats: defaultNatsConfig(server.url),
    }),
  );
  return file;
}

it('exits non-zero, saying why, when the NATS client closes its connection for good', async () => {
  const file = await natsIni('closing');
  const distributor = distributorProcess(file);
  await eventually(() => expect(distributor.output()).toContain('distributor started'), {
    timeoutMs: 30_000,
  });
  // The server now wants a token the distributor does not have: the client's reconnects fail
  // authorisation twice in a row, and it gives up for good.
  await writeFile(join(server.dir, 'nats-server.conf'), 'authorization { token: "not-ours" }\n');
  await server.restart();
  const exit = await distributor.exited;
  expect(exit.code).not.toBe(0);
  expect(exit.signal).toBeNull();
  // Its last words say what happened and what to do, not that some handle is closed.
  const last = exit.output.trim().split('\n').at(-1);
  expect(last).toMatch(
    new RegExp(
      `^shard-distributor: the NATS client closed its connection to ${server.url} for good: Authorization Violation; check the credentials .* \\[SD_ERR_QUEUE_CLOSED\\]$`,
    ),
  );
  expect(exit.output).toContain(
    'NATS connection closed for good; queue operations fail from now on',
  );
}, 90_000);

it('exits at once, saying so, when NATS refuses its credentials at start: waiting would not help', async () => {
  await writeFile(join(server.dir, 'nats-server.conf'), 'authorization { token: "not-ours" }\n');
  await server.restart();
  const file = await natsIni('refused');
  const exit = await distributorProcess(file).exited;
  expect(exit.code).not.toBe(0);
  expect(exit.output).not.toContain('cannot open the queue backend yet');
  // Its error line (stderr), wherever an info line on stdout, flushed late, falls around it.
  const said = exit.output.split('\n').filter((line) => line.startsWith('shard-distributor: '));
  expect(said).toHaveLength(1);
  expect(said[0]).toMatch(
    new RegExp(
      `^shard-distributor: NATS at ${server.url} refused the connection: Authorization Violation; check the credentials .* \\[SD_ERR_QUEUE_CLOSED\\]$`,
    ),
  );
}, 60_000);
