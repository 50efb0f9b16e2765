// Runs every benchmark one after the other (never in parallel: they measure the machine).
//   node bench/run-all.ts
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './lib.ts';

const benches = [
  'fanout-veda.ts',
  'fanout-nats.ts',
  'balance.ts',
  'memory.ts',
  'reconcile-latency.ts',
  'operator-scale.ts',
];
let failed = 0;
for (const bench of benches) {
  console.log(`\n=== bench/${bench}`);
  const result = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'bench', bench), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
