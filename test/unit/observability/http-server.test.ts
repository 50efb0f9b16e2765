import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  startObservabilityServer,
  type ObservabilityServer,
} from '../../../src/observability/index.ts';

describe('the /metrics /healthz /readyz server', () => {
  let server: ObservabilityServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  function logged() {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger(
      { level: 'debug' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    return { log, lines };
  }

  it('answers a JSON route with its body, or 503 with why there is none yet', async () => {
    let open = false;
    server = await startObservabilityServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      json: {
        '/load': () => (open ? { body: { shards: [] } } : { unavailable: 'not open yet' }),
      },
    });
    const get = () => fetch(`http://127.0.0.1:${server!.port}/load`);
    const early = await get();
    expect(early.status).toBe(503);
    expect(await early.text()).toBe('not open yet\n');
    open = true;
    const later = await get();
    expect(later.status).toBe(200);
    expect(await later.json()).toEqual({ shards: [] });
  });

  it('says in its log why a request failed, besides the 500', async () => {
    const { log, lines } = logged();
    server = await startObservabilityServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      log,
      readyz: () => {
        throw new Error('the probe broke');
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('the probe broke');
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'request failed',
        path: '/readyz',
        err: expect.objectContaining({ message: 'the probe broke' }),
      }),
    );
  });
});
