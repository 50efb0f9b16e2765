import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig, quoteArgv, renderIni } from '../config/index.ts';
import type { DistributorService } from '../distributor/index.ts';
import type { Logger } from '../observability/index.ts';
import { createVedaBackend, type QueueWriter } from '../queue/index.ts';
import type { Supervisor } from '../supervisor/index.ts';

export interface Demo {
  readonly configFile: string;
  /** Starts the status line (every 2 s) once the distributor and workers run. */
  watch(service: DistributorService, supervisor: Supervisor): void;
  stopProducing(): Promise<void>;
  stop(): Promise<void>;
  summary(service: DistributorService): void;
}

/** The running CLI itself (src/cli.ts, or dist/cli.js in the image): the workers are this binary. */
const CLI = process.argv[1] ?? fileURLToPath(new URL('../cli.ts', import.meta.url));
const MESSAGES_PER_TICK = 20;
const TICK_MS = 100;

/**
 * The embedded default the README's first command runs: an INI under DIR pointing at Veda
 * queues under DIR, four reference workers (this very binary), and a producer feeding the
 * main queue about 200 messages a second.
 */
export async function startDemo(dataDir: string, log: Logger): Promise<Demo> {
  const data = resolve(dataDir);
  const base = defaultConfig();
  const config = {
    ...base,
    dispatcher: { ...base.dispatcher, basePath: join(data, 'queue-main'), metricsPort: 0 },
    worker: {
      ...base.worker,
      workerBasePath: join(data, 'queue-workers'),
      workerModule: quoteArgv([process.execPath, CLI, 'worker']),
      workerArgsTemplate: `${base.worker.workerArgsTemplate} --out ${quoteArgv([join(data, 'out')])}/{sub_queue_name}.out`,
    },
  };
  await mkdir(join(data, 'out'), { recursive: true });
  await mkdir(config.dispatcher.basePath, { recursive: true });
  const configFile = join(data, 'demo.ini');
  await writeFile(configFile, renderIni(config));

  const backend = createVedaBackend({ basePath: config.dispatcher.basePath, logger: log });
  const writer: QueueWriter = await backend.openWriter(config.dispatcher.mainQueueName);
  let produced = 0;
  let producing = Promise.resolve();
  const producer = setInterval(() => {
    producing = producing.then(async () => {
      const batch = Array.from({ length: MESSAGES_PER_TICK }, () =>
        Buffer.from(JSON.stringify({ id: `demo-${++produced}`, at: new Date().toISOString() })),
      );
      await writer.append(batch);
      await writer.flush();
    });
  }, TICK_MS);
  let status: NodeJS.Timeout | undefined;
  let stopped = false;

  const stopProducing = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(producer);
    await producing;
    await writer.close();
    await backend.close();
  };

  const line = (text: string) => process.stdout.write(`${text}\n`);
  const dispatchedOf = (service: DistributorService) =>
    service.distributor.loadReport().shards.reduce((sum, s) => sum + s.dispatched, 0);

  return {
    configFile,
    watch(service, supervisor) {
      line(`demo: queues under ${data}, config ${configFile}`);
      line(`demo: metrics at http://127.0.0.1:${service.server.port}/metrics, load at /load`);
      let last = 0;
      status = setInterval(() => {
        const report = service.distributor.loadReport();
        const dispatched = dispatchedOf(service);
        const rate = Math.round((dispatched - last) / 2);
        last = dispatched;
        const shards = report.shards.map((s) => `${s.index}:${s.backlog}`).join(' ');
        const running = supervisor.workers().filter((w) => w.state === 'running').length;
        line(
          `produced ${produced}  dispatched ${dispatched} (${rate}/s)  main lag ${report.mainLag}  shard backlog ${shards}  workers ${running} running`,
        );
      }, 2_000);
    },
    stopProducing,
    async stop() {
      if (status) clearInterval(status);
      await stopProducing();
    },
    summary(service) {
      line(
        `demo stopped: produced ${produced}, dispatched ${dispatchedOf(service)}; worker output in ${join(data, 'out')}`,
      );
    },
  };
}
