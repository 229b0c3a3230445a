import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { HostLookup } from '../../src/net/url-guard.js';

/** One request a receiver got. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export type Responder = (req: Received, res: ServerResponse) => void;

/** A webhook receiver on 127.0.0.1: records every request; answers with `respond` (200 by default). */
export interface Receiver {
  url: string;
  received: Received[];
  respond: Responder;
  /** Resolves once `n` requests have arrived (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(respond: Responder = (_req, res) => res.writeHead(200).end('ok')): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const receiver: Receiver = {
    url: '',
    received,
    respond,
    waitFor(n, ms = 5_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (received.length < n) return false;
          clearTimeout(timer);
          resolve(received);
          return true;
        };
        const timer = setTimeout(() => reject(new Error(`receiver got ${received.length} of ${n} requests in ${ms} ms`)), ms);
        const waiter = (): void => {
          if (!check()) waiters.push(waiter); // not yet: wait for the next request
        };
        if (!check()) waiters.push(waiter);
      });
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: Received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(entry);
      receiver.respond(entry, res);
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

/** The Standard Webhooks headers of a received request. */
export function signatureHeaders(r: Received): Record<string, string> {
  return { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) };
}

/** Requests with an integrator's key, every method. */
export function hooks(app: FastifyInstance, key: string) {
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown): Promise<LightMyRequestResponse> =>
    app.inject({ method, url, headers: { 'x-api-key': key }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
  return {
    get: () => call('GET', '/v1/webhook'),
    patch: (body: unknown) => call('PATCH', '/v1/webhook', body),
    delete: () => call('DELETE', '/v1/webhook'),
    deliveries: (query = '') => call('GET', `/v1/webhook/deliveries${query}`),
    retry: (id: string) => call('POST', `/v1/webhook/deliveries/${id}/retry`),
    test: () => call('POST', '/v1/webhook/test'),
  };
}

/**
 * A resolver for the save-time check: names in `table` answer from it, every other name goes to
 * the system resolver (so `localhost.` resolves as it really does).
 */
export function stubLookup(table: Record<string, string[]>): HostLookup {
  return async (host) => {
    const addresses = table[host];
    if (addresses) return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    const dns = await import('node:dns');
    return dns.promises.lookup(host, { all: true, verbatim: true });
  };
}

/** Records an event the way the services do (insertEvent in a transaction); returns its id. */
export async function emitEvent(
  rt: { store: { db: import('../../src/store/tables.js').Db }; services: { clock: import('../../src/domain/clock.js').Clock } },
  scope: { integrationId: string; mode: 'test' | 'live' },
  type: string,
  data: unknown = { object: 'test' },
): Promise<string> {
  const { insertEvent } = await import('../../src/store/events-repo.js');
  const { newId } = await import('../../src/domain/ids.js');
  const { cryptoRandom } = await import('../../src/domain/clock.js');
  const now = rt.services.clock.now();
  const id = newId('evt', cryptoRandom, now);
  await rt.store.db.transaction().execute((trx) => insertEvent(trx, { id, integration_id: scope.integrationId, mode: scope.mode, type, data, now }));
  return id;
}
