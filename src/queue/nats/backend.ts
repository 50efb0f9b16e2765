import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { silentLogger } from '../../observability/index.ts';
import { queueMetrics } from '../metrics.ts';
import { OpenHandles } from '../open-handles.ts';
import type {
  ConsumerOptions,
  QueueBackend,
  QueueConsumer,
  QueuePosition,
  QueueWriter,
  StartAt,
} from '../types.ts';
import { serversWithoutSecret } from '../../config/index.ts';
import { openConnection } from './connection.ts';
import { NatsConsumer } from './consumer.ts';
import { copiedAfter, copiedInto } from './copied.ts';
import type { NatsContext, QueueAddress } from './context.ts';
import { fromNatsError, isNotFound, QueueConflictError } from './errors.ts';
import { checkName, durableOf, subjectOf } from './names.ts';
import { resolveOptions, type NatsBackendOptions } from './options.ts';
import { MIN_SERVER_VERSION, olderThanSupported } from './server-version.ts';
import { checkCaptures, ensureStream, subjectCount } from './streams.ts';
import { inspectQueue, peekQueue } from './inspect.ts';
import { AckedPublisher } from './publisher.ts';
import { NatsWriter } from './writer.ts';

/**
 * The JetStream backend. The main queue is subject `<mainSubjectPrefix>.<queue>` in the main
 * stream; every other queue (the shards) is `<shardSubjectPrefix>.<queue>` in the shard
 * stream, one stream for all shards so that a msgID is unique across them: a message
 * replayed to another shard after a crash is dropped too. Streams missing at start are
 * created (file storage, limits retention, discard new, the duplicate window of the options).
 */
export async function createNatsBackend(options: NatsBackendOptions): Promise<QueueBackend> {
  const resolved = resolveOptions(options);
  checkName('queue', resolved.mainQueue);
  const log = (options.logger ?? silentLogger).child({ backend: 'nats' });
  const nc = await openConnection(
    {
      servers: resolved.servers,
      name: options.name,
      credentialsFile: options.credentialsFile,
      tlsCaFile: options.tlsCaFile,
      tlsCertFile: options.tlsCertFile,
      tlsKeyFile: options.tlsKeyFile,
      timeoutMs: resolved.requestTimeoutMs,
    },
    log,
  );
  const version = nc.info?.version;
  if (olderThanSupported(version)) {
    await nc.close();
    throw new QueueConflictError(
      `nats-server ${version} at ${serversWithoutSecret(resolved.servers)} is too old: shard-distributor needs ${MIN_SERVER_VERSION} or newer (it resets JetStream consumers to their ack floor after a restart); upgrade the server`,
    );
  }
  let ctx: NatsContext;
  try {
    const jsm = await jetstreamManager(nc, { timeout: resolved.requestTimeoutMs });
    ctx = {
      nc,
      jsm,
      js: jetstream(nc, { timeout: resolved.requestTimeoutMs }),
      publisher: new AckedPublisher(nc),
      log,
      metrics: queueMetrics(options.registry),
      options: resolved,
    };
    await ensureStream(ctx, resolved.mainStream, resolved.mainSubjectPrefix);
    await ensureStream(ctx, resolved.shardStream, resolved.shardSubjectPrefix);
  } catch (err) {
    await nc.close();
    throw fromNatsError(
      err,
      `setting up JetStream streams at ${serversWithoutSecret(resolved.servers)}`,
    );
  }

  const handles = new OpenHandles('nats backend');
  const checked = new Map<string, Promise<void>>();

  const assertOpen = () => handles.assertOpen();

  async function address(queue: string): Promise<QueueAddress> {
    checkName('queue', queue);
    const main = queue === resolved.mainQueue;
    const stream = main ? resolved.mainStream : resolved.shardStream;
    const subject = subjectOf(
      main ? resolved.mainSubjectPrefix : resolved.shardSubjectPrefix,
      queue,
    );
    let check = checked.get(queue);
    if (!check) {
      check = checkCaptures(ctx, stream, subject);
      checked.set(queue, check);
      check.catch(() => checked.delete(queue));
    }
    await check;
    return { queue, stream, subject };
  }

  const track = <T extends QueueConsumer | QueueWriter>(handle: T): T => handles.track(handle);

  return {
    kind: 'nats',

    async openConsumer(queue: string, consumer: string, consumerOptions: ConsumerOptions = {}) {
      assertOpen();
      return track(await NatsConsumer.open(ctx, await address(queue), consumer, consumerOptions));
    },

    async openWriter(queue: string) {
      assertOpen();
      return track(await NatsWriter.open(ctx, await address(queue)));
    },

    /** Pending + ack pending of the durable; without one, what a new consumer would start with. */
    async backlog(
      queue: string,
      consumer: string,
      backlogOptions: { readonly startAt?: StartAt } = {},
    ) {
      assertOpen();
      checkName('consumer', consumer);
      const { stream, subject } = await address(queue);
      try {
        const info = await ctx.jsm.consumers.info(stream, durableOf(queue, consumer));
        return info.num_pending + info.num_ack_pending;
      } catch (err) {
        if (!isNotFound(err)) throw fromNatsError(err, `reading the backlog of ${queue}`);
      }
      if ((backlogOptions.startAt ?? 'oldest') === 'current') return 0;
      return subjectCount(ctx, stream, subject);
    },

    async inspect(queue: string) {
      assertOpen();
      return inspectQueue(ctx, await address(queue));
    },

    async peek(queue: string, count: number, consumer?: string) {
      assertOpen();
      if (consumer !== undefined) checkName('consumer', consumer);
      return peekQueue(
        ctx,
        await address(queue),
        consumer === undefined ? undefined : durableOf(queue, consumer),
        count,
      );
    },

    async copiedAfter(position: QueuePosition, into?: readonly string[]) {
      assertOpen();
      if (into === undefined) return copiedAfter(ctx, resolved.shardStream, position);
      // Read forward only where sequences compare: targets in the source's own stream.
      const targets = await Promise.all(into.map((queue) => address(queue)));
      const stream = String(position['stream']);
      const subjects = targets.filter((t) => t.stream === stream).map((t) => t.subject);
      return subjects.length === 0
        ? new Set<string>()
        : copiedInto(ctx, stream, position, subjects);
    },

    async close() {
      if (handles.isClosed) return;
      await handles.closeAll();
      // A drain waits for the server's answers: one that stopped answering (stalled,
      // partitioned) held a stop until the pings noticed, longer than a pod's grace period.
      // Every handle is closed by now, so nothing of ours waits in the drain.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), resolved.requestTimeoutMs);
      });
      const drained = await Promise.race([nc.drain().then(() => 'drained' as const), late]).catch(
        () => 'failed' as const,
      );
      clearTimeout(timer);
      if (drained !== 'drained') await nc.close();
    },
  };
}
