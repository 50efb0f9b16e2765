import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_SCRIPT = `${REPO_ROOT}test/cluster/build.sh`;

export type ToolName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kwok'
  | 'helm'
  | 'nats-server';

/**
 * Where the Go-built binary of a tool is. The versions live in test/cluster/build.sh only;
 * it answers `--path`. A missing binary is an error that says how to build it.
 */
export function toolPath(name: ToolName): string {
  const path = execFileSync('bash', [BUILD_SCRIPT, '--path', name], { encoding: 'utf8' }).trim();
  if (!existsSync(path)) {
    throw new Error(
      `${name} is not built (expected ${path}); run \`npm run tools\` (test/cluster/build.sh) first`,
    );
  }
  return path;
}
