/* global Buffer */
// A webhook receiver for the benchmark (started by servers.js startFakeReceiver, in its own process
// so that its work is not counted as otpgate's nor slows the bench process, where autocannon runs).
//
//   node bench/lib/fake-receiver.js [port]
//
// Prints the port it listens on, alone on one line, once it accepts connections.
//
//   POST /hook    a webhook as otpgate sends it (Standard Webhooks headers, JSON {id, type, ...}) -> 204;
//                 counted by type; a repeated webhook-id is counted as a duplicate; a request without
//                 the headers or with an unreadable body -> 400, counted as refused
//   GET /count    {"received","distinct","duplicates","refused","by_type":{…},"cpu_ms"}
import { createServer } from 'node:http';

const requested = process.argv[2] ?? '0';
if (!/^\d+$/.test(requested) || Number(requested) > 65535) {
  console.error(`fake-receiver: invalid port "${requested}"`);
  process.exit(2);
}

const seen = new Set();
const byType = {};
let received = 0;
let duplicates = 0;
let refused = 0;

function reply(res, status, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function onHook(req, res) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const id = req.headers['webhook-id'];
    let event;
    try {
      event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      event = null;
    }
    if (typeof id !== 'string' || !req.headers['webhook-signature'] || !req.headers['webhook-timestamp'] || typeof event?.type !== 'string') {
      refused++;
      return reply(res, 400, { error: 'not a webhook' });
    }
    received++;
    byType[event.type] = (byType[event.type] ?? 0) + 1;
    if (seen.has(id)) duplicates++;
    else seen.add(id);
    reply(res, 204);
  });
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/hook') return onHook(req, res);
  if (req.method === 'GET' && req.url === '/count') {
    const { user, system } = process.cpuUsage();
    return reply(res, 200, { received, distinct: seen.size, duplicates, refused, by_type: byType, cpu_ms: Math.round((user + system) / 1000) });
  }
  reply(res, 404, { error: 'unknown path' });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(Number(requested), '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('disconnect', shutdown);
