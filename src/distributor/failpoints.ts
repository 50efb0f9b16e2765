import { FailpointError } from './errors.ts';

/**
 * The steps of the commit protocol, in order. Chaos tests crash the distributor at each one
 * to prove that no message is lost or duplicated whichever step a crash interrupts.
 */
export const PROTOCOL_STEPS = [
  'after-journal',
  'after-append',
  'after-flush',
  'after-commit',
  'after-clear',
] as const;
export type ProtocolStep = (typeof PROTOCOL_STEPS)[number];

export type Failpoint = (step: ProtocolStep) => void;

export const noFailpoint: Failpoint = () => {};

/**
 * Parses `SD_FAILPOINT=<step>:<n>[:throw]`: at the n-th time the step is reached the process
 * kills itself with SIGKILL (a real crash: no handlers, no flush), or throws with `:throw`.
 * Only tests set it.
 */
export function failpointFromSpec(spec: string | undefined): Failpoint {
  if (!spec) return noFailpoint;
  const [step, nth = '1', mode = 'kill'] = spec.split(':');
  if (!PROTOCOL_STEPS.includes(step as ProtocolStep)) {
    throw new Error(
      `SD_FAILPOINT: unknown step "${step}"; use one of ${PROTOCOL_STEPS.join(', ')}`,
    );
  }
  let remaining = Number.parseInt(nth, 10);
  return (reached) => {
    if (reached !== step || --remaining !== 0) return;
    if (mode === 'throw') throw new FailpointError(reached);
    process.kill(process.pid, 'SIGKILL');
  };
}
