/**
 * A fake WhatsApp Cloud API (Meta's Graph API) on a real HTTP server, for tests.
 *
 * By default it answers as Meta documents: the Bearer token is checked (401, code 190), then the phone number id
 * in the path (400, code 100 / subcode 33), then the message (`messaging_product`, `to`, a known template with
 * its language and the authentication template's body and button parameters); a good send is answered
 * `200 { messaging_product, contacts: [{ input, wa_id }], messages: [{ id: 'wamid.…' }] }`. The phone-number read
 * (`GET /{id}?fields=…`) used by `check()` is served too. `script(...)` queues behaviours, one per request.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedWhatsAppRequest {
  method: string;
  /** The path without the query (`/v21.0/<phone number id>/messages`). */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
  rawBody: string;
}

/** What the fake does with one request. */
export type FakeWhatsAppBehaviour =
  /** Answer as Meta would (the default when nothing is queued). */
  | { kind: 'ok' }
  /** A Graph API error: `{ error: { message, type, code, error_subcode?, error_data: { messaging_product, details }, fbtrace_id } }`. */
  | { kind: 'error'; status: number; code: number; message: string; type?: string; subcode?: number; details?: string; retryAfter?: string | number }
  /** Any status and body as is (a proxy's HTML 502, an empty 200). */
  | { kind: 'raw'; status: number; body?: string; headers?: Record<string, string> }
  /** Never answer (until `close()`). */
  | { kind: 'hang' };

/** Ready-made behaviours with Meta's documented codes and messages. */
export const whatsAppBehaviours = {
  ok: (): FakeWhatsAppBehaviour => ({ kind: 'ok' }),
  /** 131026: not a WhatsApp number, old client, terms not accepted (permanent). */
  undeliverable: (): FakeWhatsAppBehaviour => ({
    kind: 'error',
    status: 400,
    code: 131026,
    message: '(#131026) Message undeliverable',
    details: 'Message Undeliverable.',
  }),
  /** A bare 5xx without a Graph error body (a load balancer's answer). */
  serverError: (status = 500): FakeWhatsAppBehaviour => ({ kind: 'raw', status, body: 'Internal Server Error', headers: { 'content-type': 'text/plain' } }),
  /** 131000 "Something went wrong" (HTTP 500). */
  somethingWentWrong: (): FakeWhatsAppBehaviour => ({ kind: 'error', status: 500, code: 131000, message: '(#131000) Something went wrong', details: 'Something went wrong' }),
  /** 130429 throughput limit, HTTP 429, optionally with Retry-After (seconds). */
  rateLimited: (retryAfterSeconds?: number): FakeWhatsAppBehaviour => ({
    kind: 'error',
    status: 429,
    code: 130429,
    message: '(#130429) Rate limit hit',
    details: 'Cloud API message throughput has been reached.',
    ...(retryAfterSeconds === undefined ? {} : { retryAfter: retryAfterSeconds }),
  }),
  /** 131056 pair rate limit: too many messages to the same number (HTTP 400 but temporary). */
  pairRateLimited: (): FakeWhatsAppBehaviour => ({
    kind: 'error',
    status: 400,
    code: 131056,
    message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
    details: 'Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.',
  }),
  hang: (): FakeWhatsAppBehaviour => ({ kind: 'hang' }),
};

export interface FakeWhatsAppOptions {
  token?: string;
  phoneNumberId?: string;
  /** Known template names (any language); default `['otp_code']`. */
  templates?: string[];
  displayPhoneNumber?: string;
  verifiedName?: string;
}

export interface FakeWhatsApp {
  /** The Graph API root with its version segment, as `WhatsAppConfig.baseUrl` takes it. */
  readonly baseUrl: string;
  readonly token: string;
  readonly phoneNumberId: string;
  readonly templates: readonly string[];
  readonly displayPhoneNumber: string;
  readonly verifiedName: string;
  /** Every request received, in order (including refused and hanging ones). */
  readonly requests: RecordedWhatsAppRequest[];
  /** The message ids answered to successful sends, in order. */
  readonly sent: string[];
  /** Queues behaviours, consumed one per request; `ok` once the queue is empty. */
  script(...behaviours: FakeWhatsAppBehaviour[]): void;
  close(): Promise<void>;
}

export const FAKE_GRAPH_VERSION = 'v21.0';

export async function startFakeWhatsApp(opts: FakeWhatsAppOptions = {}): Promise<FakeWhatsApp> {
  const token = opts.token ?? 'fake-whatsapp-token';
  const phoneNumberId = opts.phoneNumberId ?? '106540352242922';
  const templates = opts.templates ?? ['otp_code'];
  const displayPhoneNumber = opts.displayPhoneNumber ?? '+1 555-010-4242';
  const verifiedName = opts.verifiedName ?? 'otpgate Test';
  const requests: RecordedWhatsAppRequest[] = [];
  const sent: string[] = [];
  const queue: FakeWhatsAppBehaviour[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse, rawBody: string): void => {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const recorded: RecordedWhatsAppRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: parseBody(rawBody),
      rawBody,
    };
    requests.push(recorded);

    const behaviour = queue.shift() ?? { kind: 'ok' };
    switch (behaviour.kind) {
      case 'hang':
        return; // the socket stays open until the client gives up or close() destroys it
      case 'raw':
        res.writeHead(behaviour.status, behaviour.headers ?? {});
        res.end(behaviour.body ?? '');
        return;
      case 'error': {
        const headers: Record<string, string> = {};
        if (behaviour.retryAfter !== undefined) headers['retry-after'] = String(behaviour.retryAfter);
        graphError(res, behaviour.status, {
          message: behaviour.message,
          code: behaviour.code,
          ...(behaviour.type === undefined ? {} : { type: behaviour.type }),
          ...(behaviour.subcode === undefined ? {} : { subcode: behaviour.subcode }),
          ...(behaviour.details === undefined ? {} : { details: behaviour.details }),
          headers,
        });
        return;
      }
      case 'ok':
        answer(req, res, url, recorded.body);
        return;
    }
  };

  const answer = (req: IncomingMessage, res: ServerResponse, url: URL, body: unknown): void => {
    // Graph checks the token before anything else.
    if (req.headers.authorization !== `Bearer ${token}`) {
      graphError(res, 401, { message: 'Invalid OAuth access token - Cannot parse access token', code: 190, headers: { 'www-authenticate': 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token - Cannot parse access token"' } });
      return;
    }
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== FAKE_GRAPH_VERSION || parts.length < 2 || parts.length > 3 || (parts.length === 3 && parts[2] !== 'messages')) {
      graphError(res, 400, { message: 'Unknown path components: ' + url.pathname, code: 2500 });
      return;
    }
    const method = req.method ?? 'GET';
    const objectId = decodeURIComponent(parts[1] ?? '');
    const edge = parts[2];
    const wrongVerb = (edge === 'messages' && method !== 'POST') || (edge === undefined && method !== 'GET');
    if (objectId !== phoneNumberId || wrongVerb) {
      graphError(res, 400, {
        message: `Unsupported ${method.toLowerCase()} request. Object with ID '${objectId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
        type: 'GraphMethodException',
        code: 100,
        subcode: 33,
      });
      return;
    }
    if (edge === undefined) {
      const all: Record<string, string> = { display_phone_number: displayPhoneNumber, verified_name: verifiedName, quality_rating: 'GREEN', code_verification_status: 'VERIFIED' };
      const fields = (url.searchParams.get('fields') ?? 'verified_name,display_phone_number,quality_rating,code_verification_status').split(',').map((f) => f.trim());
      const out: Record<string, string> = {};
      for (const f of fields) {
        const value = all[f];
        if (value === undefined) {
          graphError(res, 400, { message: `(#100) Tried accessing nonexisting field (${f}) on node type (WhatsAppBusinessPhoneNumber)`, code: 100 });
          return;
        }
        out[f] = value;
      }
      json(res, 200, { ...out, id: phoneNumberId });
      return;
    }
    sendMessage(res, body);
  };

  const sendMessage = (res: ServerResponse, body: unknown): void => {
    if (!isRecord(body)) {
      graphError(res, 400, { message: '(#100) Invalid parameter', code: 100, details: 'The request body is not a JSON object' });
      return;
    }
    if (body.messaging_product !== 'whatsapp') {
      graphError(res, 400, { message: '(#100) The parameter messaging_product is required.', code: 100 });
      return;
    }
    if (typeof body.to !== 'string' || body.to.replace(/\D/g, '') === '') {
      graphError(res, 400, { message: '(#100) The parameter to is required.', code: 100 });
      return;
    }
    if (body.recipient_type !== undefined && body.recipient_type !== 'individual' && body.recipient_type !== 'group') {
      graphError(res, 400, { message: '(#100) Invalid parameter', code: 100, details: 'Param recipient_type must be one of {INDIVIDUAL, GROUP}' });
      return;
    }
    if (body.type !== 'template' || !isRecord(body.template)) {
      graphError(res, 400, { message: '(#100) Invalid parameter', code: 100, details: 'This fake serves template messages only' });
      return;
    }
    const template = body.template;
    const language = isRecord(template.language) ? template.language.code : undefined;
    if (typeof template.name !== 'string' || typeof language !== 'string' || language === '') {
      graphError(res, 400, { message: '(#131008) Required parameter is missing', code: 131008, details: 'Parameters template.name and template.language.code are required' });
      return;
    }
    if (!templates.includes(template.name)) {
      // Meta documents 132001 with HTTP 404.
      graphError(res, 404, { message: '(#132001) Template name does not exist in the translation', code: 132001, details: `template name (${template.name}) does not exist in ${language}` });
      return;
    }
    if (!authenticationParameters(template.components)) {
      graphError(res, 400, {
        message: '(#132000) Number of parameters does not match the expected number of params',
        code: 132000,
        details: 'An authentication template takes one body text parameter and one URL button (index 0) text parameter',
      });
      return;
    }
    const id = `wamid.${randomBytes(30).toString('base64').replace(/=+$/, '')}`;
    sent.push(id);
    json(res, 200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: body.to, wa_id: body.to.replace(/\D/g, '') }],
      messages: [{ id, message_status: 'accepted' }],
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/${FAKE_GRAPH_VERSION}`,
    token,
    phoneNumberId,
    templates,
    displayPhoneNumber,
    verifiedName,
    requests,
    sent,
    script: (...behaviours) => {
      queue.push(...behaviours);
    },
    close: async () => {
      queue.length = 0;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // hanging requests and keep-alive sockets alike
      await closed;
    },
  };
}

/** An authentication template's parameters: one body text parameter, one text parameter for URL button 0. */
function authenticationParameters(components: unknown): boolean {
  if (!Array.isArray(components)) return false;
  const textParams = (c: Record<string, unknown>): boolean =>
    Array.isArray(c.parameters) && c.parameters.length === 1 && isRecord(c.parameters[0]) && c.parameters[0].type === 'text' && typeof c.parameters[0].text === 'string' && c.parameters[0].text !== '';
  const body = components.filter((c): c is Record<string, unknown> => isRecord(c) && c.type === 'body');
  const button = components.filter((c): c is Record<string, unknown> => isRecord(c) && c.type === 'button');
  return (
    body.length === 1 &&
    textParams(body[0]!) &&
    button.length === 1 &&
    button[0]!.sub_type === 'url' &&
    String(button[0]!.index) === '0' &&
    textParams(button[0]!)
  );
}

function graphError(
  res: ServerResponse,
  status: number,
  e: { message: string; code: number; type?: string; subcode?: number; details?: string; headers?: Record<string, string> },
): void {
  const error: Record<string, unknown> = { message: e.message, type: e.type ?? 'OAuthException', code: e.code };
  if (e.subcode !== undefined) error.error_subcode = e.subcode;
  if (e.details !== undefined) error.error_data = { messaging_product: 'whatsapp', details: e.details };
  error.fbtrace_id = randomBytes(12).toString('base64url');
  json(res, status, { error }, e.headers);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(JSON.stringify(body));
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface WhatsAppStatusOptions {
  /** For `failed`: Meta's error code (default 131026). */
  errorCode?: number;
  /** For `failed`: the error's title (default "Message undeliverable"). */
  title?: string;
  /** Unix seconds (default now). */
  timestamp?: number;
  recipientId?: string;
  phoneNumberId?: string;
}

/** A `messages` webhook carrying one status for `wamid`, shaped as Meta posts it. */
export function whatsAppStatusPayload(
  wamid: string,
  status: 'sent' | 'delivered' | 'read' | 'failed',
  opts: WhatsAppStatusOptions = {},
): Record<string, unknown> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const recipientId = opts.recipientId ?? '16505551234';
  const entry: Record<string, unknown> = { id: wamid, status, timestamp: String(timestamp), recipient_id: recipientId };
  if (status === 'failed') {
    const title = opts.title ?? 'Message undeliverable';
    entry.errors = [{ code: opts.errorCode ?? 131026, title, message: title, error_data: { details: 'Message Undeliverable.' } }];
  } else {
    entry.conversation = { id: 'c0nv3rsat10n1d', origin: { type: 'authentication' }, ...(status === 'sent' ? { expiration_timestamp: String(timestamp + 86_400) } : {}) };
    entry.pricing = { billable: true, pricing_model: 'PMP', category: 'authentication', type: 'regular' };
  }
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550104242', phone_number_id: opts.phoneNumberId ?? '106540352242922' },
              statuses: [entry],
            },
            field: 'messages',
          },
        ],
      },
    ],
  };
}

/** The `X-Hub-Signature-256` header value Meta would send for `rawBody`. */
export function signWhatsApp(appSecret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody, 'utf8').digest('hex')}`;
}
