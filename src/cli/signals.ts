/** The signals that ask for a graceful stop, and their numbers (for the 128+n exit code). */
const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type ShutdownSignal = keyof typeof SIGNAL_NUMBERS;

/**
 * An AbortSignal that fires on SIGTERM, SIGINT or SIGHUP (a closed terminal, which would
 * otherwise end the process at once): the commands stop reading, finish what is in flight and
 * exit 0. A second signal exits at once.
 */
export function shutdownSignal(): AbortSignal {
  const controller = new AbortController();
  for (const signal of Object.keys(SIGNAL_NUMBERS) as ShutdownSignal[]) {
    process.on(signal, () => {
      if (controller.signal.aborted) process.exit(128 + SIGNAL_NUMBERS[signal]);
      controller.abort(signal);
    });
  }
  return controller.signal;
}

/**
 * The exit code of a command a stop signal cut short: 128 + the signal's number, as a shell
 * reports a process the signal ended (130 for Ctrl-C).
 */
export function interruptedExitCode(signal: AbortSignal): number {
  const reason: unknown = signal.reason;
  return typeof reason === 'string' && reason in SIGNAL_NUMBERS
    ? 128 + SIGNAL_NUMBERS[reason as ShutdownSignal]
    : 1;
}
