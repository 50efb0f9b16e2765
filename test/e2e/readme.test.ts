import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { REPO_ROOT, toolPath } from '../harness/tools.ts';
import { eventually } from './support.ts';

/**
 * Every command in the README's `sh` blocks is run here, in README order, against the test
 * control plane — so the README cannot rot. A command this file does not know fails the test.
 * (The kind quickstart is a `console` block: it needs Docker, which these machines lack.)
 */
const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
  m[1]!
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean),
);

function environment(): NodeJS.ProcessEnv {
  const path = [
    dirname(toolPath('helm')),
    dirname(toolPath('kubectl')),
    join(REPO_ROOT, 'node_modules', '.bin'),
    process.env['PATH'],
  ].join(':');
  return { ...process.env, PATH: path, KUBECONFIG: inject('kubeconfig'), LOG_LEVEL: 'info' };
}

function run(command: string): { status: number | null; output: string } {
  const result = spawnSync('bash', ['-c', command], {
    cwd: REPO_ROOT,
    env: environment(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function ok(command: string): string {
  const result = run(command);
  expect(result.status, `${command}\n${result.output}`).toBe(0);
  return result.output;
}

/** A long-running command: started, watched until `ready` shows, then sent `signal` as Ctrl-C or a kubelet would. */
async function daemon(
  command: string,
  ready: RegExp,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const child = spawn('bash', ['-c', `exec ${command}`], {
    cwd: REPO_ROOT,
    env: environment(),
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, sig) => resolve({ code, signal: sig })),
  );
  try {
    await eventually(() => expect(output).toMatch(ready), { timeoutMs: 60_000 });
  } finally {
    process.kill(-child.pid!, signal);
  }
  return { ...(await exited), output };
}

type Runner = (command: string) => Promise<void> | void;

const runners: Array<[RegExp, Runner]> = [
  [
    /^npm ci && npm start$/,
    async () => {
      // npm ci already ran (this test runs from the installed tree); the rest is as written.
      // Ctrl-C reaches npm and the demo alike: the demo stops cleanly, npm dies of the signal.
      const exit = await daemon('npm start', /produced \d+ {2}dispatched \d+/, 'SIGINT');
      expect(exit.output).toMatch(/demo stopped: produced \d+, dispatched \d+/);
      expect(exit.code === 0 || exit.signal === 'SIGINT', exit.output).toBe(true);
    },
  ],
  [
    /^npm ci && npm test$/,
    () => {
      // This very run is it: CI runs exactly this command.
      expect(readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8')).toMatch(
        /^npm ci .*\n(.*\n)*npm test$/m,
      );
    },
  ],
  [
    /^helm install shard-distributor charts\/shard-distributor /,
    (command) => {
      ok(command);
      expect(ok('kubectl get deployment -n shard-distributor-system -o name')).toContain(
        'deployment.apps/shard-distributor',
      );
      ok('helm uninstall shard-distributor --namespace shard-distributor-system --wait');
    },
  ],
  [
    /^kubectl apply --server-side -k config\/default$/,
    (command) => {
      ok(command);
      expect(
        ok(
          'kubectl get deployment,serviceaccount,clusterrole -A -l app.kubernetes.io/part-of=shard-distributor -o name',
        ),
      ).toMatch(/deployment.apps\/\S+[\s\S]*serviceaccount\/\S+[\s\S]*clusterrole/);
      ok(
        'kubectl delete -k config/default -l app.kubernetes.io/part-of=shard-distributor --wait=false',
      );
    },
  ],
  [
    /^kubectl apply -f config\/samples\/shards_v1alpha1_sharddistributor_minimal\.yaml$/,
    (c) => void expect(ok(c)).toContain('sharddistributor.shards.veda.dev/minimal'),
  ],
  [
    /^kubectl scale sd\/minimal --replicas=8$/,
    (command) => {
      ok(command);
      expect(ok('kubectl get sd minimal -o jsonpath={.spec.minWorkers}')).toBe('8');
    },
  ],
  [
    /^kubectl get sd$/,
    (c) => void expect(ok(c)).toMatch(/NAME\s+MIN\s+READY\s+BACKLOG\s+STRATEGY\s+AGE\nminimal\s+8/),
  ],
  [/^kubectl describe sd minimal$/, (c) => void expect(ok(c)).toMatch(/Kind:\s+ShardDistributor/)],
  [
    /^kubectl apply -f config\/samples\/autoscaling\/hpa\.yaml$/,
    (c) => void expect(ok(c)).toContain('horizontalpodautoscaler.autoscaling/minimal'),
  ],
  [
    /^node_modules\/\.bin\/node src\/cli\.ts run --config config\/veda-queue-shard-distributor\.ini$/,
    async (command) => {
      const exit = await daemon(command, /"msg":"distributor started"/, 'SIGTERM');
      expect(exit.output).toContain('"msg":"distributor stopped"');
      expect(exit.code, exit.output).toBe(0);
    },
  ],
  [
    /^node_modules\/\.bin\/node src\/cli\.ts queue stat /,
    (c) => void expect(ok(c)).toMatch(/CONSUMER\s+BACKLOG\s+POSITION/),
  ],
  [
    /^node_modules\/\.bin\/node src\/cli\.ts queue tail /,
    (c) => void expect(ok(c)).toMatch(/"id":"demo-\d+"/),
  ],
  [
    /^node_modules\/\.bin\/node src\/cli\.ts queue push /,
    (c) => void expect(ok(c)).toContain('pushed 1 message(s) to individuals-flow'),
  ],
];

describe('the README', () => {
  afterAll(() => {
    run('kubectl delete -f config/samples/autoscaling/hpa.yaml --ignore-not-found');
    run('kubectl delete sd minimal --ignore-not-found --wait=false');
  });

  it('has commands, and a test for each of them', () => {
    expect(commands.length).toBeGreaterThan(10);
    const untested = commands.filter((c) => !runners.some(([pattern]) => pattern.test(c)));
    expect(untested).toEqual([]);
  });

  it('keeps the Docker-only quickstart in a block of its own', () => {
    const console = [...readme.matchAll(/```console\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(console).toHaveLength(1);
    expect(console[0]).toMatch(/^docker build/);
  });

  for (const command of commands) {
    it(`runs: ${command}`, async () => {
      const runner = runners.find(([pattern]) => pattern.test(command));
      expect(runner, `no runner for ${command}`).toBeDefined();
      await runner![1](command);
    }, 180_000);
  }
});
