import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, useNamespace } from '../support.ts';
import {
  AddressBook,
  boundClaim,
  createSd,
  patchSpec,
  sdManifest,
  startOperator,
  workerDeploymentNames,
  workers,
  type Proc,
} from './support.ts';

/** A /load that never answers: a reconcile reading it waits for the reader's timeout. */
async function silentLoad(): Promise<{ server: Server; url: string; requests: number[] }> {
  const requests: number[] = [];
  const server = createServer(() => requests.push(Date.now()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
  };
}

describe('an operator stopped in the middle of a reconcile', () => {
  const ns = useNamespace('halt');
  let dir = '';
  let operator: Proc | undefined;
  let load: Awaited<ReturnType<typeof silentLoad>> | undefined;
  beforeEach(async () => boundClaim(ns.name));
  afterEach(async () => {
    await operator?.kill();
    load?.server.closeAllConnections();
    load?.server.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes nothing more once stopped: what it read may be stale, and another leader may be writing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-e2e-halt-'));
    const book = await AddressBook.create(dir);
    operator = startOperator({ book });
    await createSd(ns.name, sdManifest('halt', { minWorkers: 2 }));
    await eventually(
      async () => expect(await workerDeploymentNames(ns.name, 'halt')).toEqual(workers('halt', 2)),
      { timeoutMs: 30_000 },
    );

    load = await silentLoad();
    await book.set(ns.name, 'halt', load.url);
    await patchSpec(ns.name, 'halt', { minWorkers: 3 });
    // A /load read begun after this is a reconcile that knows the edit.
    const edited = Date.now();
    // The reconcile of the edit has begun and waits on /load (3 s to its timeout) …
    await eventually(() => expect(load!.requests.some((at) => at > edited)).toBe(true), {
      timeoutMs: 30_000,
    });
    // … when the operator is told to stop. It waits for that reconcile to return.
    await operator.stop();
    // Before, the reconcile went on after the stop and applied the third worker.
    expect(await workerDeploymentNames(ns.name, 'halt')).toEqual(workers('halt', 2));
    expect(operator.output()).toContain('reconcile interrupted by stop');
  }, 120_000);
});
