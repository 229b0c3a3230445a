// The baseline: the cheapest Fastify 5 JSON route, in its own process like otpgate.
// Usage: node bench/bare-server.js [port]   (or BENCH_PORT=…; 0 or unset picks a free port)
// Prints the port it listens on, alone on one line, once it accepts connections.
import Fastify from 'fastify';

const requested = process.argv[2] ?? process.env.BENCH_PORT ?? '0';
if (!/^\d+$/.test(requested) || Number(requested) > 65535) {
  console.error(`bare-server: invalid port "${requested}"`);
  process.exit(2);
}

const app = Fastify({ logger: false });
app.post('/echo', async () => ({ ok: true }));

await app.listen({ host: '127.0.0.1', port: Number(requested) });
process.stdout.write(`${app.server.address().port}\n`);

async function shutdown() {
  await app.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Started with an IPC channel by run.js: do not outlive a parent that died without cleaning up.
process.on('disconnect', shutdown);
