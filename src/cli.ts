#!/usr/bin/env node
/**
 * shard-distributor: one binary, several entrypoints (one image in Kubernetes, different args).
 */
import { ShardDistributorError } from './errors.ts';
import { createLogger, type Logger } from './observability/index.ts';
import { crdCommand } from './cli/crd-command.ts';
import { DISTRIBUTOR_USAGE, distributorCommand } from './cli/distributor-command.ts';
import { shutdownSignal } from './cli/signals.ts';
import { UsageError } from './cli/usage-error.ts';
import { workerCommand } from './cli/worker-command.ts';
import { RUN_USAGE, runCommand } from './cli/run-command.ts';
import { QUEUE_USAGE, queueCommand } from './cli/queue-command.ts';
import { OPERATOR_USAGE, operatorCommand } from './cli/operator-command.ts';
import { DLQ_USAGE, dlqCommand } from './cli/dlq-command.ts';
import { WORKER_USAGE } from './worker/index.ts';

const USAGE = `usage: shard-distributor <command> [options]

commands:
  run          the drop-in for veda-queue-shard-distributor: distributor + local workers
  distributor  the fan-out loop alone (the container the operator runs)
  worker       the reference worker: consumes one shard queue
  operator     the Kubernetes operator
  queue        inspect a queue: stat | tail | push
  dlq          dead letters of a pool: list | show | replay | purge
  crd          print the ShardDistributor CustomResourceDefinition

'shard-distributor <command> --help' tells more.`;

const COMMAND_USAGE: Record<string, string> = {
  run: RUN_USAGE,
  distributor: DISTRIBUTOR_USAGE,
  worker: WORKER_USAGE,
  queue: QUEUE_USAGE,
  dlq: DLQ_USAGE,
  operator: OPERATOR_USAGE,
  crd: 'shard-distributor crd\n\nPrints the ShardDistributor CustomResourceDefinition (kubectl apply -f -).',
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const env = process.env;
  const log = createLogger({ base: { component: command ?? 'cli' } });
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    // Asked for, it is the answer (stdout); for want of a command, it is the error (stderr).
    (command ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const usage = COMMAND_USAGE[command];
  if (usage && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    return await runCommandNamed(command, rest, env, log);
  } catch (error) {
    // node:util parseArgs: an unknown flag, a flag without its value, a stray argument.
    if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_'))
      throw new UsageError((error as Error).message, usage ?? USAGE);
    throw error;
  }
}

async function runCommandNamed(
  command: string,
  rest: string[],
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<number> {
  // Only the commands that stop gracefully take over SIGTERM, SIGINT and SIGHUP; for the
  // others (queue, crd; dlq list and show) the first Ctrl-C ends them, as it would any tool.
  const signal = ['distributor', 'run', 'worker', 'operator'].includes(command)
    ? shutdownSignal()
    : new AbortController().signal;
  switch (command) {
    case 'distributor':
      await distributorCommand(rest, env, log, signal).catch((error: unknown) => {
        // Stopped while still waiting for the main queue: a clean stop, not a failure.
        if (!signal.aborted) throw error;
      });
      return 0;
    case 'run':
      return runCommand(rest, env, log, signal).catch((error: unknown) => {
        // As for the distributor: stopped while waiting for the main queue is a clean stop.
        if (!signal.aborted) throw error;
        return 0;
      });
    case 'worker':
      return workerCommand(rest, env, signal);
    case 'operator':
      return operatorCommand(rest, env, log, signal);
    case 'queue':
      return queueCommand(rest, env);
    case 'dlq':
      return dlqCommand(rest, env);
    case 'crd':
      if (rest.length > 0)
        throw new UsageError(`unexpected argument "${rest[0]}"`, COMMAND_USAGE[command]!);
      crdCommand();
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`, USAGE);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`shard-distributor: ${error.message}\n\n${error.usage}`);
      process.exit(2);
    }
    if (error instanceof ShardDistributorError) {
      console.error(`shard-distributor: ${error.message} [${error.code}]`);
      process.exit(1);
    }
    console.error(error);
    process.exit(1);
  },
);
