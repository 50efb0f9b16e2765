import { parseArgs } from 'node:util';
import { loadConfigFile, type Env } from '../config/index.ts';
import { silentLogger } from '../observability/index.ts';
import {
  createNatsBackend,
  createVedaBackend,
  type QueueBackend,
  type QueueStat,
} from '../queue/index.ts';
import { encodeOutputLine } from '../worker/index.ts';
import { UsageError } from './usage-error.ts';

export const QUEUE_USAGE = `shard-distributor queue <stat|tail|push> (--base DIR | --config FILE) QUEUE [options]

  --base DIR      a Veda queue directory
  --config FILE   the distributor's INI: its backend (veda or nats) and where its queues are

  stat  QUEUE [--json]               what it holds, every consumer's position and backlog
  tail  QUEUE [--consumer C] [-n N]  the next N messages consumer C would read (default: from
                                     the oldest); moves nothing
  push  QUEUE MESSAGE...             append messages (one per argument) durably`;

type Options = { base?: string; config?: string; json?: boolean; consumer?: string; n?: string };

export async function queueCommand(argv: string[], env: Env): Promise<number> {
  const [action, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      base: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
      consumer: { type: 'string' },
      n: { type: 'string', short: 'n' },
    },
    allowPositionals: true,
    strict: true,
  }) as { values: Options; positionals: string[] };
  const [queue, ...messages] = positionals;
  if (!action || !['stat', 'tail', 'push'].includes(action)) {
    throw new UsageError(`unknown queue action "${action ?? ''}"`, QUEUE_USAGE);
  }
  if (!queue) throw new UsageError('QUEUE is required', QUEUE_USAGE);
  if (action === 'push' && messages.length === 0)
    throw new UsageError('push needs at least one MESSAGE', QUEUE_USAGE);
  const count = values.n === undefined ? 10 : Number(values.n);
  if (!Number.isInteger(count) || count < 1)
    throw new UsageError(`-n ${values.n} is not a whole number >= 1`, QUEUE_USAGE);

  const backend = await backendFor(values, queue, env);
  try {
    if (action === 'stat') {
      const stat = await backend.inspect(queue);
      process.stdout.write(values.json ? `${JSON.stringify(stat, null, 2)}\n` : formatStat(stat));
    } else if (action === 'tail') {
      for (const message of await backend.peek(queue, count, values.consumer)) {
        process.stdout.write(`${encodeOutputLine(message)}\n`);
      }
    } else {
      const writer = await backend.openWriter(queue);
      await writer.append(messages.map((m) => Buffer.from(m)));
      await writer.flush();
      await writer.close();
      process.stdout.write(`pushed ${messages.length} message(s) to ${queue}\n`);
    }
    return 0;
  } finally {
    await backend.close();
  }
}

/** The backend of `--base DIR` (veda), or of the INI's settings, where QUEUE lives. */
async function backendFor(values: Options, queue: string, env: Env): Promise<QueueBackend> {
  if ((values.base === undefined) === (values.config === undefined)) {
    throw new UsageError('give exactly one of --base DIR or --config FILE', QUEUE_USAGE);
  }
  if (values.base !== undefined)
    return createVedaBackend({ basePath: values.base, logger: silentLogger });
  const config = await loadConfigFile(values.config!, {
    env,
    log: silentLogger,
    createIfMissing: false,
  });
  const { dispatcher, worker, nats } = config;
  if (dispatcher.backend === 'nats' && nats) {
    return createNatsBackend({
      ...nats,
      mainQueue: dispatcher.mainQueueName,
      logger: silentLogger,
    });
  }
  const base = queue === dispatcher.mainQueueName ? dispatcher.basePath : worker.workerBasePath;
  return createVedaBackend({ basePath: base, logger: silentLogger });
}

function formatStat(stat: QueueStat): string {
  const lines = [
    `queue ${stat.queue} (${stat.backend}) in ${stat.location}: ${stat.messages} message(s)`,
  ];
  if (stat.parts) {
    lines.push('', 'PART  PUSHED  BYTES');
    for (const p of stat.parts) {
      lines.push(
        `${String(p.id).padEnd(4)}  ${String(p.pushed ?? '?').padEnd(6)}  ${p.bytes}${p.problem ? `  (${p.problem})` : ''}`,
      );
    }
  }
  lines.push('', 'CONSUMER  BACKLOG  POSITION');
  for (const c of stat.consumers) {
    lines.push(
      c.problem
        ? `${c.name}  ?  (${c.problem})`
        : `${c.name}  ${c.backlog ?? '?'}  ${c.position ?? ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
