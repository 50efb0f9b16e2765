import { readdir } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import { silentLogger, type Logger } from '../../observability/index.ts';
import { queueMetrics } from '../metrics.ts';
import { QueueNotFoundError } from '../errors.ts';
import { OpenHandles } from '../open-handles.ts';
import type {
  ConsumerOptions,
  QueueBackend,
  QueueConsumer,
  QueueWriter,
  StartAt,
} from '../types.ts';
import { VedaConsumer } from './consumer.ts';
import type { VedaContext } from './context.ts';
import { readHead } from './files.ts';
import { checkName, parseInfoPop } from './info-lines.ts';
import { backlogFrom, currentPart, listParts } from './layout.ts';
import type { LockOptions } from './lock.ts';
import { INFO_QUEUE_SUFFIX, paths } from './paths.ts';
import type { MessageType } from './record.ts';
import { statVedaQueue } from './stat.ts';
import { VedaWriter } from './writer.ts';

export interface VedaBackendOptions {
  /** The directory holding the queues (the INI's `base_path`). */
  readonly basePath: string;
  readonly logger?: Logger;
  readonly registry?: Registry;
  /** fsync on flush and commit (default true). */
  readonly durable?: boolean;
  /** Writers: start a new part once the current one holds this many bytes (default 256 MiB). */
  readonly maxPartBytes?: number;
  /** Writers: delete parts every registered consumer has passed (default false). */
  readonly retention?: boolean;
  /** Writers: `msg_type` of the records (default 'O'). */
  readonly messageType?: MessageType;
  /** Consumers: bytes per read from disk (default 64 KiB). */
  readonly chunkSize?: number;
  readonly lock?: LockOptions;
}

/** The embedded file backend, byte-compatible with Veda's v_queue 0.2.7. */
export function createVedaBackend(options: VedaBackendOptions): QueueBackend {
  const ctx: VedaContext = {
    base: options.basePath,
    log: (options.logger ?? silentLogger).child({ backend: 'veda' }),
    metrics: queueMetrics(options.registry),
  };
  const handles = new OpenHandles(`veda backend at ${ctx.base}`);

  const assertOpen = () => handles.assertOpen();

  const track = <T extends QueueConsumer | QueueWriter>(handle: T): T => handles.track(handle);

  return {
    kind: 'veda',

    async openConsumer(queue: string, consumer: string, consumerOptions: ConsumerOptions = {}) {
      assertOpen();
      return track(
        await VedaConsumer.open(ctx, queue, consumer, {
          durable: options.durable,
          chunkSize: options.chunkSize,
          ...consumerOptions,
        }),
      );
    },

    async openWriter(queue: string, writerOptions = {}) {
      assertOpen();
      checkName('queue', queue);
      return track(
        await VedaWriter.open(ctx, queue, {
          durable: options.durable,
          maxPartBytes: options.maxPartBytes,
          retention: options.retention,
          messageType: options.messageType,
          lock: options.lock,
          ...writerOptions,
        }),
      );
    },

    async backlog(
      queue: string,
      consumer: string,
      backlogOptions: { readonly startAt?: StartAt } = {},
    ) {
      assertOpen();
      checkName('queue', queue);
      checkName('consumer', consumer);
      const current = await currentPart(ctx, queue, async () => undefined);
      if (current === undefined) return 0;
      const text = await readHead(paths.infoPop(ctx.base, queue, consumer));
      const pop = text === undefined ? undefined : parseInfoPop(text, queue, consumer);
      if (pop?.ok)
        return backlogFrom(ctx.base, queue, pop.value.partId, pop.value.countPopped, current);
      const oldest = (await listParts(ctx.base, queue)).find((p) => p <= current) ?? current;
      const from = (backlogOptions.startAt ?? 'oldest') === 'oldest' ? oldest : current;
      return backlogFrom(ctx.base, queue, from, 0, current);
    },

    async queues() {
      assertOpen();
      const names = await readdir(ctx.base).catch(() => [] as string[]);
      return names
        .filter((name) => name.endsWith(INFO_QUEUE_SUFFIX))
        .map((name) => name.slice(0, -INFO_QUEUE_SUFFIX.length));
    },

    async inspect(queue: string) {
      assertOpen();
      checkName('queue', queue);
      const stat = await statVedaQueue(ctx.base, queue);
      if (!stat.exists) {
        throw new QueueNotFoundError(
          `queue ${queue} not found in ${ctx.base} (no ${queue}_info_queue and no part directory); check the queue name and the base path`,
        );
      }
      return {
        queue,
        backend: 'veda',
        location: ctx.base,
        messages: stat.pushed,
        parts: stat.parts,
        consumers: stat.consumers.map((c) =>
          c.problem
            ? { name: c.name, problem: c.problem }
            : {
                name: c.name,
                position: `part ${c.part} offset ${c.offset} popped ${c.popped}`,
                backlog: c.backlog,
              },
        ),
      };
    },

    async peek(queue: string, count: number, consumer?: string) {
      assertOpen();
      checkName('queue', queue);
      // A reader from the consumer's position (or the oldest message), registering nothing:
      // a consumer that only looked would hold back retention for ever.
      const name = consumer ?? `sd-peek-${process.pid}-${Date.now()}`;
      const reader = await VedaConsumer.open(ctx, queue, name, {
        durable: false,
        startAt: 'oldest',
        lookOnly: true,
      });
      try {
        return (await reader.read(count)).messages.map((m) => m.data);
      } finally {
        await reader.close();
      }
    },

    async close() {
      await handles.closeAll();
    },
  };
}
