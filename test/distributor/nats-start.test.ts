import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultConfig, defaultNatsConfig, renderIni } from '../../src/config/index.ts';
import { createNatsBackend } from '../../src/queue/index.ts';
import { eventually } from '../harness/eventually.ts';
import { NatsServer } from '../harness/nats-server.ts';
import { distributorProcess, loggedPort } from './process-helpers.ts';

let server: NatsServer;
let dir: string;
beforeAll(async () => {
  server = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), 'sd-dist-start-'));
});
afterAll(async () => {
  await server?.dispose();
  await rm(dir, { recursive: true, force: true });
});

it('waits for a NATS server that is down at its start, healthy but not ready, then moves messages', async () => {
  const base = defaultConfig();
  const config = {
    ...base,
    dispatcher: {
      ...base.dispatcher,
      backend: 'nats' as const,
      mainQueueName: 'late',
      minWorkers: 2,
    },
    nats: defaultNatsConfig(server.url),
  };
  const file = join(dir, 'late.ini');
  await writeFile(file, renderIni(config));
  await server.stop();

  const distributor = distributorProcess(file);
  try {
    const port = await loggedPort(distributor.output);
    await eventually(
      () => expect(distributor.output()).toContain('cannot open the queue backend yet; retrying'),
      { timeoutMs: 30_000 },
    );
    // Alive (no restart would help) and saying what it waits for.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('waiting for the queue backend (nats)');

    await server.restart();
    await eventually(() => expect(distributor.output()).toContain('distributor started'), {
      timeoutMs: 60_000,
    });
    const producer = await createNatsBackend({ ...config.nats, mainQueue: 'late' });
    try {
      const writer = await producer.openWriter('late');
      await writer.append(['a', 'b'].map((m) => Buffer.from(m)));
      await writer.flush();
      await eventually(
        async () => expect(await producer.backlog('late', base.dispatcher.consumerName)).toBe(0),
        { timeoutMs: 30_000 },
      );
    } finally {
      await producer.close();
    }
  } finally {
    distributor.child.kill('SIGTERM');
    await distributor.exited;
  }
});

it('keeps a password in the NATS url out of its logs and errors', async () => {
  const base = defaultConfig();
  // Nobody listens on port 1: the distributor retries, saying where it tries to connect.
  const url = 'nats://alice:s3cret@127.0.0.1:1';
  const file = join(dir, 'password.ini');
  await writeFile(
    file,
    renderIni({
      ...base,
      dispatcher: { ...base.dispatcher, backend: 'nats', mainQueueName: 'secret' },
      nats: defaultNatsConfig(url),
    }),
  );
  const distributor = distributorProcess(file);
  try {
    await eventually(
      () => expect(distributor.output()).toContain('cannot open the queue backend yet; retrying'),
      { timeoutMs: 30_000 },
    );
    expect(distributor.output()).toContain('nats://alice:***@127.0.0.1:1');
    expect(distributor.output()).not.toContain('s3cret');
  } finally {
    distributor.child.kill('SIGTERM');
    await distributor.exited;
  }
});
