import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Env } from '../config/index.ts';
import { silentLogger } from '../observability/index.ts';
import { createVedaBackend, statVedaQueue, type VedaQueueStat } from '../queue/index.ts';
import { encodeOutputLine } from '../worker/index.ts';
import { UsageError } from './usage-error.ts';

export const QUEUE_USAGE = `shard-distributor queue <stat|tail|push> --base DIR QUEUE [options]

  stat  --base DIR QUEUE [--json]          parts, pushed, every consumer's position and backlog
  tail  --base DIR QUEUE [--consumer C] [-n N]
                                           the next N messages consumer C would read (default:
                                           from the oldest part); moves nothing
  push  --base DIR QUEUE MESSAGE...        append messages (one per argument) durably`;

type Options = { base?: string; json?: boolean; consumer?: string; n?: string };

export async function queueCommand(argv: string[], _env: Env): Promise<number> {
  const [action, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      base: { type: 'string' },
      json: { type: 'boolean' },
      consumer: { type: 'string' },
      n: { type: 'string', short: 'n' },
    },
    allowPositionals: true,
    strict: true,
  }) as { values: Options; positionals: string[] };
  const [queue, ...messages] = positionals;
  if (!action || !['stat', 'tail', 'push'].includes(action))
    throw new UsageError(`unknown queue action "${action ?? ''}"`, QUEUE_USAGE);
  if (!values.base) throw new UsageError('--base DIR is required', QUEUE_USAGE);
  if (!queue) throw new UsageError('QUEUE is required', QUEUE_USAGE);
  if (action === 'stat') {
    const stat = await statVedaQueue(values.base, queue);
    process.stdout.write(values.json ? `${JSON.stringify(stat, null, 2)}\n` : formatStat(stat));
    return 0;
  }
  if (action === 'push') return push(values.base, queue, messages);
  const count = values.n === undefined ? 10 : Number(values.n);
  if (!Number.isInteger(count) || count < 1)
    throw new UsageError(`-n ${values.n} is not a whole number >= 1`, QUEUE_USAGE);
  return tail(values.base, queue, values.consumer, count);
}

async function push(base: string, queue: string, messages: string[]): Promise<number> {
  if (messages.length === 0) throw new UsageError('push needs at least one MESSAGE', QUEUE_USAGE);
  const backend = createVedaBackend({ basePath: base, logger: silentLogger });
  try {
    const writer = await backend.openWriter(queue);
    await writer.append(messages.map((m) => Buffer.from(m)));
    await writer.flush();
    await writer.close();
    process.stdout.write(`pushed ${messages.length} message(s) to ${queue}\n`);
    return 0;
  } finally {
    await backend.close();
  }
}

async function tail(
  base: string,
  queue: string,
  consumer: string | undefined,
  count: number,
): Promise<number> {
  const backend = createVedaBackend({ basePath: base, logger: silentLogger });
  // Without a consumer, peek as a throw-away one from the oldest part and remove its pop file.
  const name = consumer ?? `sd-tail-${process.pid}`;
  try {
    const reader = await backend.openConsumer(queue, name, { startAt: 'oldest', durable: false });
    const batch = await reader.read(count);
    for (const message of batch.messages)
      process.stdout.write(`${encodeOutputLine(message.data)}\n`);
    await reader.close();
    return 0;
  } finally {
    await backend.close();
    if (!consumer) await rm(join(base, `${queue}_info_pop_${name}`), { force: true });
  }
}

function formatStat(stat: VedaQueueStat): string {
  const lines = [
    `queue ${stat.queue} in ${stat.basePath}`,
    `current part ${stat.currentPart ?? '(info_queue missing or garbage)'}, ${stat.pushed} pushed in ${stat.parts.length} part(s)`,
    '',
    'PART  PUSHED  BYTES',
    ...stat.parts.map(
      (p) =>
        `${String(p.id).padEnd(4)}  ${String(p.pushed ?? '?').padEnd(6)}  ${p.bytes}${p.problem ? `  (${p.problem})` : ''}`,
    ),
    '',
    'CONSUMER  PART  OFFSET  POPPED  BACKLOG',
    ...stat.consumers.map((c) =>
      c.problem
        ? `${c.name}  (${c.problem})`
        : `${c.name}  ${c.part}  ${c.offset}  ${c.popped}  ${c.backlog}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
