/* global Buffer */
// A minimal fake WhatsApp Cloud API (Meta Graph API) for the benchmark's live phase, run in its own
// process like the servers (started by servers.js startFakeWhatsApp; it must not share otpgate's
// event loop, nor the bench process's, where autocannon runs).
//
//   FAKE_WHATSAPP_TOKEN=… FAKE_WHATSAPP_PHONE_NUMBER_ID=… node bench/lib/fake-whatsapp.js [port]
//
// Optional FAKE_WHATSAPP_LATENCY_MS: answer each send that many ms late (a remote API's round trip;
// default 0). Prints the port it listens on, alone on one line, once it accepts connections.
//
//   POST /{phone-number-id}/messages   Authorization: Bearer <token>; a template message as otpgate
//                                      sends it -> 200 {"messaging_product":"whatsapp","contacts":[…],
//                                      "messages":[{"id":"wamid.…"}]}; counted
//                                      wrong token -> 401 (Graph error 190), other id -> 400 (100),
//                                      unreadable message -> 400 (100); counted as rejected
//   GET /{phone-number-id}              what `otpgate providers check` reads
//   GET /count                          {"received","distinct","duplicates","rejected","cpu_ms"}:
//                                      messages accepted, distinct recipients among them, messages to
//                                      a recipient already seen, requests refused, CPU this process used
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

const requested = process.argv[2] ?? '0';
const token = process.env.FAKE_WHATSAPP_TOKEN;
const phoneNumberId = process.env.FAKE_WHATSAPP_PHONE_NUMBER_ID;
const latencyMs = Number(process.env.FAKE_WHATSAPP_LATENCY_MS ?? '0');
if (!/^\d+$/.test(requested) || Number(requested) > 65535) {
  console.error(`fake-whatsapp: invalid port "${requested}"`);
  process.exit(2);
}
if (!token || !phoneNumberId || !Number.isFinite(latencyMs) || latencyMs < 0) {
  console.error('fake-whatsapp: set FAKE_WHATSAPP_TOKEN and FAKE_WHATSAPP_PHONE_NUMBER_ID (and FAKE_WHATSAPP_LATENCY_MS >= 0, if at all)');
  process.exit(2);
}

const expectedAuth = `Bearer ${token}`;
const recipients = new Set();
let received = 0;
let duplicates = 0;
let rejected = 0;
/** wamid.<random prefix><counter>: unique across runs without random bytes per message. */
const idPrefix = randomBytes(12).toString('base64url');

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function graphError(res, status, code, message, type = 'OAuthException') {
  rejected++;
  reply(res, status, { error: { message, type, code, fbtrace_id: randomBytes(8).toString('base64url') } });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The recipient of a template message as otpgate sends it, or null when it is not one. */
function recipientOf(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return null;
  }
  const ok =
    message?.messaging_product === 'whatsapp' &&
    message.type === 'template' &&
    typeof message.to === 'string' &&
    typeof message.template?.name === 'string' &&
    typeof message.template?.language?.code === 'string' &&
    Array.isArray(message.template.components);
  return ok ? message.to : null;
}

async function sendMessage(req, res, id) {
  const text = await readBody(req);
  if (req.headers.authorization !== expectedAuth) return graphError(res, 401, 190, 'Invalid OAuth access token - Cannot parse access token');
  if (id !== phoneNumberId) return graphError(res, 400, 100, `Unsupported post request. Object with ID '${id}' does not exist`, 'GraphMethodException');
  const to = recipientOf(text);
  if (to === null) return graphError(res, 400, 100, 'Invalid parameter');
  received++;
  if (recipients.has(to)) duplicates++;
  else recipients.add(to);
  // Built as text, the id from a counter: this process stands in for a remote API, and every bit of CPU
  // it spends here is taken from otpgate on the benchmark's machine.
  const input = JSON.stringify(to);
  const answer = `{"messaging_product":"whatsapp","contacts":[{"input":${input},"wa_id":${JSON.stringify(to.replace(/^\+/, ''))}}],"messages":[{"id":"wamid.${idPrefix}${(received).toString(36)}"}]}`;
  if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
  res.end(answer);
}

function counts() {
  const { user, system } = process.cpuUsage();
  return { received, distinct: recipients.size, duplicates, rejected, cpu_ms: Math.round((user + system) / 1000) };
}

const server = createServer((req, res) => {
  const pathname = req.url.split('?', 1)[0];
  const messages = /^\/([^/]+)\/messages$/.exec(pathname);
  if (req.method === 'POST' && messages) {
    sendMessage(req, res, decodeURIComponent(messages[1])).catch((error) => reply(res, 500, { error: { message: error.message, code: 1 } }));
    return;
  }
  if (req.method === 'GET' && pathname === '/count') return reply(res, 200, counts());
  if (req.method === 'GET' && pathname === `/${phoneNumberId}`) {
    if (req.headers.authorization !== expectedAuth) return graphError(res, 401, 190, 'Invalid OAuth access token - Cannot parse access token');
    return reply(res, 200, { display_phone_number: '+1 555-000-0000', verified_name: 'otpgate bench', id: phoneNumberId });
  }
  reply(res, 404, { error: { message: 'Unknown path', type: 'GraphMethodException', code: 100 } });
});
// Longer than otpgate's idle pooled connections wait: a send never races a closing socket.
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;

server.listen(Number(requested), '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Started with an IPC channel by the benchmark: do not outlive a parent that died without cleaning up.
process.on('disconnect', shutdown);
