/**
 * Test support (not built into the package): a real node:http server that records every request
 * and answers through a handler, and helpers to listen on a free port.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query exactly as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body. */
  body: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
}

export interface StubReply {
  status: number;
  body?: unknown;
  /** Sent as is (not JSON-encoded) when set. */
  raw?: string;
  headers?: Record<string, string>;
  /** Never answer (to test timeouts). */
  hang?: boolean;
}

export type StubHandler = (request: RecordedRequest) => StubReply;

export interface HttpStub {
  url: string;
  port: number;
  requests: RecordedRequest[];
  server: Server;
  close(): Promise<void>;
}

/** Starts a stub on 127.0.0.1 and a free port. */
export async function startStub(handler: StubHandler): Promise<HttpStub> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json };
      requests.push(recorded);
      const reply = handler(recorded);
      if (reply.hang) return;
      const isProblem = reply.status >= 400 && reply.raw === undefined;
      const contentType = reply.raw !== undefined ? 'text/html' : isProblem ? 'application/problem+json; charset=utf-8' : 'application/json; charset=utf-8';
      res.writeHead(reply.status, { 'content-type': contentType, 'x-request-id': `req-${requests.length}`, ...reply.headers });
      res.end(reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body)));
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    server,
    close: () => closeServer(server),
  };
}

export function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

/** An RFC 9457 body of the API. */
export function problemBody(type: string, status: number, detail: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type, title: type, status, detail, ...extra };
}
