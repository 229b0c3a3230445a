import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, maskUrlForLog } from '../../src/runtime.js';
import { api, createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';

/** A pino destination that keeps every line written. */
function captureStream(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

let rt: TestRuntime | undefined;
afterEach(async () => {
  await rt?.dispose();
  rt = undefined;
});

describe('identifiers in logs', () => {
  it('masks phones and emails in the request log URL', async () => {
    const logs = captureStream();
    rt = await startRuntime({ logger: createLogger('info', logs.stream) });
    const integration = await createIntegration(rt.app);
    const client = api(rt.app, integration.testKey);
    await client.get('/v1/sandbox/messages?to=%2B5511987654321');
    await client.get('/v1/identities?identifier=ana@example.com');
    await client.get('/v1/identities?identifier=+5511987654321&x=1');

    const text = logs.text();
    expect(text).toContain('incoming request');
    expect(text).not.toContain('5511987654321');
    expect(text).not.toContain('ana@example.com');
    expect(text).not.toContain('ana%40example.com');
    expect(text).toContain('+55*******4321');
    expect(text).toContain('a***@example.com');
    // Everything else in the URL stays readable.
    expect(text).toContain('/v1/sandbox/messages?to=');
    expect(text).toContain('&x=1');
  });

  it('masks identifiers in logged errors and path segments', () => {
    const logs = captureStream();
    const logger = createLogger('info', logs.stream);
    logger.error({ err: new Error('provider refused +5511987654321 and ana@example.com'), error: 'bad number +5511987654321' }, 'send failed');
    logger.info({ req: { method: 'GET', url: '/v1/identities/ana%40example.com' } }, 'incoming request');
    const text = logs.text();
    expect(text).not.toContain('5511987654321');
    expect(text).not.toContain('ana@example.com');
    expect(text).not.toContain('ana%40example.com');
    expect(text).toContain('+55*******4321');
    expect(text).toContain('a***@example.com');
  });

  it('leaves URLs without identifiers as they are', () => {
    const url = '/v1/verifications/0b8e4bde-2c39-4b0a-9f6e-426614174000?limit=20&since=1700000000000';
    expect(maskUrlForLog(url)).toBe(url);
  });
});
