import { run, toolPath } from './lib.ts';

export interface NatsBenchResult {
  msgsPerSec: number;
  mbPerSec: number;
  output: string;
}

/** Runs the real `nats bench` (natscli, built by test/cluster/build.sh) and parses its stats line. */
async function natsBench(args: readonly string[], what: RegExp): Promise<NatsBenchResult> {
  const p = run(toolPath('nats'), args);
  const exit = await p.exited;
  const output = p.output();
  if (exit.code !== 0) throw new Error(`nats ${args.join(' ')} failed:\n${output}`);
  const match = what.exec(output);
  if (!match) throw new Error(`no stats in the output of nats ${args.join(' ')}:\n${output}`);
  return {
    msgsPerSec: Number(match[1]!.replaceAll(',', '')),
    mbPerSec: Number(match[2]),
    output,
  };
}

/** JetStream async publish of `count` messages of `size` bytes to a file-storage stream. */
export function natsBenchPublish(
  url: string,
  count: number,
  size: number,
): Promise<NatsBenchResult> {
  return natsBench(
    [
      'bench',
      'sdbench',
      '--js',
      '--pub',
      '1',
      '--msgs',
      String(count),
      '--size',
      String(size),
      '--storage',
      'file',
      '--purge',
      '--no-progress',
      '-s',
      url,
    ],
    /Pub stats: ([\d,]+) msgs\/sec ~ ([\d.]+) [MK]B\/sec/,
  );
}

/** A durable, explicitly acknowledged pull consumer reading what natsBenchPublish stored. */
export function natsBenchConsume(
  url: string,
  count: number,
  size: number,
): Promise<NatsBenchResult> {
  return natsBench(
    [
      'bench',
      'sdbench',
      '--js',
      '--sub',
      '1',
      '--pull',
      '--msgs',
      String(count),
      '--size',
      String(size),
      '--no-progress',
      '-s',
      url,
    ],
    /Sub stats: ([\d,]+) msgs\/sec ~ ([\d.]+) [MK]B\/sec/,
  );
}
