import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { countSystemWrites } from '../../test/helpers/socket-writes.js';
import { coalesceWrites } from './coalesce-writes.js';

/** A loopback server that keeps what it receives; `client` is connected to it. */
async function pair(): Promise<{ server: Server; client: Socket; received: () => string; chunks: () => number }> {
  let data = '';
  let chunks = 0;
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      chunks += 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const client = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  return { server, client, received: () => data, chunks: () => chunks };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('coalesceWrites', () => {
  const open: Array<{ server: Server; client: Socket }> = [];
  afterEach(async () => {
    for (const { server, client } of open.splice(0)) {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('sends the writes of one turn, from later callbacks of it too, in one call into the system, in order', async () => {
    const p = await pair();
    open.push(p);
    coalesceWrites(p.client);
    const counts = countSystemWrites(p.client);
    p.client.write('SET a 1\r\n');
    p.client.write(Buffer.from('GET a\r\n'));
    // Writes from later callbacks of the same turn (a tick, a promise continuation) join them.
    await new Promise<void>((resolve) => {
      process.nextTick(() => {
        p.client.write('INCR b\r\n');
        resolve();
      });
    });
    expect(counts.calls).toBe(0); // nothing has gone out during the turn
    await turn();
    expect(counts).toEqual({ calls: 1, chunks: 3 });
    await until(() => p.received().length === 'SET a 1\r\nGET a\r\nINCR b\r\n'.length);
    expect(p.received()).toBe('SET a 1\r\nGET a\r\nINCR b\r\n');
  });

  it('writes again in later turns, and wrapping twice changes nothing', async () => {
    const p = await pair();
    open.push(p);
    coalesceWrites(p.client);
    coalesceWrites(p.client);
    const counts = countSystemWrites(p.client);
    for (let i = 0; i < 3; i++) {
      p.client.write(`PING ${i}\r\n`);
      p.client.write(`PING ${i}b\r\n`);
      await turn();
    }
    expect(counts).toEqual({ calls: 3, chunks: 6 });
    const expected = [0, 1, 2].map((i) => `PING ${i}\r\nPING ${i}b\r\n`).join('');
    await until(() => p.received().length === expected.length);
    expect(p.received()).toBe(expected);
    expect(p.client.writableCorked).toBe(0); // every cork was undone
  });

  it('calls the write callback once the data is written, and a socket destroyed meanwhile does not throw', async () => {
    const p = await pair();
    open.push(p);
    coalesceWrites(p.client);
    const written = new Promise<Error | null | undefined>((resolve) => p.client.write('x', (error) => resolve(error)));
    expect(await written).toBeFalsy();
    p.client.write('lost');
    p.client.destroy();
    await turn(); // the pending uncork runs on a destroyed socket
    expect(p.client.destroyed).toBe(true);
  });
});
