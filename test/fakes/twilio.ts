/**
 * A fake Twilio REST API (the parts otpgate uses) on a real HTTP server on 127.0.0.1 and a random port:
 *
 * - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded) → 201 with a Message resource;
 * - `GET /2010-04-01/Accounts/{AccountSid}.json` → 200 with the Account resource (the credentials check).
 *
 * By default it answers as Twilio documents: HTTP Basic auth with the Account SID and auth token (else 401,
 * code 20003), the authenticated account in the path (else 404, code 20404), `To` an E.164 number (21604 when
 * missing, 21211 when not a valid number), `From` or `MessagingServiceSid` (21603), `Body` (21602); errors are
 * `{code, message, more_info, status}`. `script()` queues behaviours that answer the next calls instead.
 *
 * Also `postTwilioStatus()`: posts a status callback signed the way Twilio signs it, for tests of otpgate's endpoint.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { twilioSignature } from '../../src/delivery/providers/twilio-signature.js';

export interface FakeTwilioRequest {
  method: string;
  /** The request target, query string included. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The form-encoded body's fields (the first value of a repeated one); empty for a GET. */
  form: Record<string, string>;
}

/** What the fake does for one call, instead of its default answer. */
export type FakeTwilioBehaviour =
  /** The default answer (validation included): useful to let one call through between scripted ones. */
  | { kind: 'ok' }
  /** A Twilio error body `{code, message, more_info, status}` with this HTTP status (e.g. 400 / 21211). */
  | { kind: 'error'; status: number; code: number; message?: string; headers?: Record<string, string> }
  /** A 5xx (default 500, code 20500). */
  | { kind: 'server-error'; status?: number }
  /** 429, code 20429, with `Retry-After` when given. */
  | { kind: 'rate-limited'; retryAfter?: string }
  /** Any status and body as given (e.g. a proxy's HTML 502 page). */
  | { kind: 'raw'; status: number; body: string; contentType?: string }
  /** Never answers (until `close()`). */
  | { kind: 'hang' };

export interface FakeTwilio {
  /** Pass as TwilioConfig.baseUrl. */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  requests: FakeTwilioRequest[];
  /** Queues behaviours for the next calls, one per call, in order; afterwards the default answers resume. */
  script(...behaviours: FakeTwilioBehaviour[]): void;
  close(): Promise<void>;
}

export const FAKE_TWILIO_FRIENDLY_NAME = 'otpgate test account';

const hex32 = (): string => randomBytes(16).toString('hex');
/** Twilio's E.164 check: `+`, a non-zero first digit, at most 15 digits. */
const E164 = /^\+[1-9]\d{6,14}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-f]{32}$/i;

function twilioError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** RFC 2822, as Twilio formats its dates (`Thu, 30 Jul 2015 20:12:31 +0000`). */
function twilioDate(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf-8')));
    req.on('error', reject);
  });
}

export async function startFakeTwilio(opts: { accountSid?: string; authToken?: string } = {}): Promise<FakeTwilio> {
  const accountSid = opts.accountSid ?? `AC${hex32()}`;
  const authToken = opts.authToken ?? hex32();
  const requests: FakeTwilioRequest[] = [];
  const queue: FakeTwilioBehaviour[] = [];
  const dateCreated = twilioDate(new Date('2024-01-01T00:00:00Z'));

  const authorised = (req: IncomingMessage): string | null => {
    const header = req.headers.authorization ?? '';
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (!m) return null;
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf-8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    return user === accountSid && password === authToken ? user : null;
  };

  const createMessage = (res: ServerResponse, form: Record<string, string>): void => {
    const to = form.To;
    if (!to) return twilioError(res, 400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) return twilioError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    const service = form.MessagingServiceSid;
    const from = form.From;
    if (!from && !service) return twilioError(res, 400, 21603, "A 'From' phone number is required.");
    if (service && !MESSAGING_SERVICE_SID.test(service)) {
      return twilioError(res, 400, 21701, `The Messaging Service Sid ${service} is invalid.`);
    }
    if (!form.Body && !form.MediaUrl && !form.ContentSid) return twilioError(res, 400, 21602, 'Message body is required.');
    const sid = `SM${hex32()}`;
    const now = twilioDate(new Date());
    json(res, 201, {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body: form.Body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      // With a Messaging Service the sender is chosen later: `from` is null and the status `accepted`.
      from: service ? null : from,
      messaging_service_sid: service ?? null,
      num_media: '0',
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid,
      status: service ? 'accepted' : 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    });
  };

  const fetchAccount = (res: ServerResponse): void => {
    json(res, 200, {
      auth_token: authToken,
      date_created: dateCreated,
      date_updated: dateCreated,
      friendly_name: FAKE_TWILIO_FRIENDLY_NAME,
      owner_account_sid: accountSid,
      sid: accountSid,
      status: 'active',
      subresource_uris: { messages: `/2010-04-01/Accounts/${accountSid}/Messages.json` },
      type: 'Full',
      uri: `/2010-04-01/Accounts/${accountSid}.json`,
    });
  };

  const defaultAnswer = (req: IncomingMessage, res: ServerResponse, path: string, form: Record<string, string>): void => {
    if (!authorised(req)) return twilioError(res, 401, 20003, 'Authenticate');
    const route = /^\/2010-04-01\/Accounts\/([^/]+?)(\.json|\/Messages\.json)$/.exec(path);
    const notFound = (): void => twilioError(res, 404, 20404, `The requested resource ${path} was not found`);
    if (!route || decodeURIComponent(route[1] as string) !== accountSid) return notFound();
    if (route[2] === '.json') return req.method === 'GET' ? fetchAccount(res) : twilioError(res, 405, 20004, 'Method not allowed');
    return req.method === 'POST' ? createMessage(res, form) : twilioError(res, 405, 20004, 'Method not allowed');
  };

  const server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const path = req.url ?? '/';
      const form: Record<string, string> = {};
      if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        for (const [k, v] of new URLSearchParams(raw)) if (!(k in form)) form[k] = v;
      }
      requests.push({ method: req.method ?? '', path, headers: req.headers, form });
      const behaviour = queue.shift() ?? { kind: 'ok' };
      switch (behaviour.kind) {
        case 'ok':
          return defaultAnswer(req, res, path.split('?')[0] as string, form);
        case 'error':
          return twilioError(res, behaviour.status, behaviour.code, behaviour.message ?? `Error ${behaviour.code}`, behaviour.headers);
        case 'server-error': {
          const status = behaviour.status ?? 500;
          return status === 503
            ? twilioError(res, 503, 20503, 'Service unavailable')
            : twilioError(res, status, 20500, 'An internal server error has occurred');
        }
        case 'rate-limited':
          return twilioError(res, 429, 20429, 'Too Many Requests', behaviour.retryAfter ? { 'retry-after': behaviour.retryAfter } : {});
        case 'raw':
          res.writeHead(behaviour.status, { 'content-type': behaviour.contentType ?? 'text/html' });
          return void res.end(behaviour.body);
        case 'hang':
          return; // the socket is destroyed by close()
      }
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    requests,
    script: (...behaviours) => {
      queue.push(...behaviours);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets and hanging requests: without this, close() would wait for them.
        server.closeAllConnections();
      }),
  };
}

/**
 * POSTs a Twilio status callback to `url`, form-encoded and signed as Twilio signs it
 * (`X-Twilio-Signature` over `url` and the parameters, with `authToken`).
 */
export async function postTwilioStatus(url: string, authToken: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilioSignature(authToken, url, params),
      'user-agent': 'TwilioProxy/1.1',
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: await res.text() };
}
