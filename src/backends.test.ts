import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { countSystemWrites } from '../test/helpers/socket-writes.js';
import { REDIS_URL, onRealRedis } from '../test/helpers/stores.js';
import { redisClient } from './backends.js';

describe.skipIf(!REDIS_URL)(`the Redis command client ${onRealRedis}`, () => {
  const clients: Redis[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });
  const open = async (): Promise<Redis> => {
    const client = redisClient(REDIS_URL ?? '', pino({ level: 'silent' }), 'client', 2000);
    clients.push(client);
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    return client;
  };

  it('sends the commands of one turn in one write, and answers each as alone', async () => {
    const client = await open();
    const key = `otpgate-test:coalesce:${process.pid}:${Date.now()}`;
    const counts = countSystemWrites(client.stream);
    const answers = await Promise.all([client.set(key, '1', 'PX', 10_000), client.incr(key), client.incrby(key, 5), client.get(key), client.del(key)]);
    expect(answers).toEqual(['OK', 2, 7, '7', 1]);
    expect(counts).toEqual({ calls: 1, chunks: 5 });
  });

  it('does so again on the connection it makes after losing one', async () => {
    const client = await open();
    const first = client.stream;
    client.disconnect(true); // drop the connection; ioredis reconnects
    await new Promise((resolve) => client.once('ready', resolve));
    expect(client.stream).not.toBe(first);
    const counts = countSystemWrites(client.stream);
    expect(await Promise.all([client.ping(), client.ping('again')])).toEqual(['PONG', 'again']);
    expect(counts).toEqual({ calls: 1, chunks: 2 });
  });
});
