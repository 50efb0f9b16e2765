import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueMessageTooLargeError, QueuePermissionError } from '../../../src/queue/index.ts';
import { fromNatsError } from '../../../src/queue/nats/errors.ts';
import { AckedPublisher } from '../../../src/queue/nats/publisher.ts';
import { NatsServer } from '../../harness/nats-server.ts';

// `admin` may do anything; the others lack one right each that a distributor needs.
const CONFIG = `
authorization {
  users = [
    { user: admin, password: admin }
    { user: writer, password: writer, permissions: {
        publish: { allow: ["perm.ok", "$JS.API.>"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: deaf, password: deaf, permissions: {
        publish: { allow: ["perm.ok", "$JS.API.>"] }
        subscribe: { deny: ["_INBOX.>"] } } }
    { user: blind, password: blind, permissions: {
        publish: { allow: ["perm.ok"] }
        subscribe: { allow: ["_INBOX.>"] } } }
  ]
}
`;

// Long enough that a test waiting for it fails by its own timeout first.
const ACK_TIMEOUT_MS = 120_000;

describe('nats permissions: a refusal is named, not taken for a server that does not answer', () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const as = async (user: string): Promise<NatsConnection> => {
    const nc = await connect({ servers: server.url, user, pass: user });
    connections.push(nc);
    return nc;
  };

  beforeAll(async () => {
    server = await NatsServer.start({ config: CONFIG });
    const jsm = await jetstreamManager(await as('admin'));
    await jsm.streams.add({ name: 'PERM', subjects: ['perm.>'] });
  });
  afterAll(async () => {
    for (const nc of connections) await nc.close();
    await server?.dispose();
  });

  it('ends a publish to a subject the user may not publish to with a QueuePermissionError naming it', async () => {
    const publisher = new AckedPublisher(await as('writer'));
    const [stored] = await publisher.publishAll(
      'perm.ok',
      [{ data: Buffer.from('a'), id: 'ok-1' }],
      ACK_TIMEOUT_MS,
    );
    expect(stored).toMatchObject({ ok: true, seq: 1 });

    const outcomes = await publisher.publishAll(
      'perm.denied',
      [
        { data: Buffer.from('b'), id: 'denied-1' },
        { data: Buffer.from('c'), id: 'denied-2' },
      ],
      ACK_TIMEOUT_MS,
    );
    for (const outcome of outcomes) {
      expect(outcome.ok).toBe(false);
      const error = (outcome as { error: unknown }).error;
      expect(error).toBeInstanceOf(QueuePermissionError);
      expect((error as Error).message).toMatch(
        /publishing to perm\.denied: .*not allow .* user to publish to perm\.denied .*publish\.allow/,
      );
    }
  }, 30_000);

  it('ends a publish whose acks the user may not receive with a QueuePermissionError naming the inbox', async () => {
    const publisher = new AckedPublisher(await as('deaf'));
    const [outcome] = await publisher.publishAll(
      'perm.ok',
      [{ data: Buffer.from('d'), id: 'deaf-1' }],
      ACK_TIMEOUT_MS,
    );
    expect(outcome?.ok).toBe(false);
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(QueuePermissionError);
    expect((error as Error).message).toMatch(
      /receiving the publish acks on _INBOX\.\S+: .*subscribe to _INBOX\.\S+ .*subscribe\.allow/,
    );
  }, 30_000);

  it('maps a JetStream API request the user may not make to a QueuePermissionError', async () => {
    const nc = await as('blind');
    // The manager asks the server for the account's JetStream info first: refused already.
    const refused = await jetstreamManager(nc, { timeout: ACK_TIMEOUT_MS })
      .then((jsm) => jsm.streams.info('PERM'))
      .catch((error: unknown) => error);
    const mapped = fromNatsError(refused, 'reading stream PERM');
    expect(mapped).toBeInstanceOf(QueuePermissionError);
    expect((mapped as Error).message).toMatch(/^reading stream PERM: .*publish to \$JS\.API\.\S+ /);
  }, 30_000);
});

describe('nats max_payload: a message over it is named, and the rest of its batch goes on', () => {
  let server: NatsServer;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    server = await NatsServer.start({ config: 'max_payload: 1024\n' });
    nc = await connect({ servers: server.url });
    await (await jetstreamManager(nc)).streams.add({ name: 'BIG', subjects: ['big.>'] });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it('fails only the message too big, with a QueueMessageTooLargeError naming it and the limit', async () => {
    const publisher = new AckedPublisher(nc!);
    const outcomes = await publisher.publishAll(
      'big.shard',
      [
        { data: Buffer.from('small-1'), id: 'q:S:1' },
        { data: Buffer.alloc(1_000, 'x'), id: 'q:S:2' },
        { data: Buffer.from('small-3'), id: 'q:S:3' },
      ],
      ACK_TIMEOUT_MS,
    );
    expect(outcomes[0]).toMatchObject({ ok: true, seq: 1 });
    expect(outcomes[2]).toMatchObject({ ok: true, seq: 2 });
    const error = (outcomes[1] as { error: unknown }).error;
    expect(error).toBeInstanceOf(QueueMessageTooLargeError);
    expect((error as Error).message).toMatch(
      /^message q:S:2 to big\.shard \(a 1000-byte payload and its headers\) is over the server's max_payload of 1024 bytes: raise max_payload/,
    );
  }, 30_000);
});
