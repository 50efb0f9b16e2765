import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVedaBackend, type QueueBackend } from '../../src/queue/index.ts';
import { queueContract } from './contract-cases.ts';

// The same cases the nats backend runs (test/queue/nats/nats-backend.test.ts), so the two cannot drift.
queueContract('veda', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sd-contract-'));
  const backends: QueueBackend[] = [];
  const open = (): QueueBackend => {
    const backend = createVedaBackend({ basePath: dir, durable: false });
    backends.push(backend);
    return backend;
  };
  return {
    backend: open(),
    reopen: async () => open(),
    async cleanup() {
      for (const backend of backends) await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
