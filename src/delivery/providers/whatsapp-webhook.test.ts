import { describe, expect, it } from 'vitest';
import { signWhatsApp, whatsAppStatusPayload } from '../../../test/fakes/whatsapp.js';
import { parseWhatsAppStatuses, verifyWhatsAppSignature, whatsAppHandshake } from './whatsapp-webhook.js';

const SECRET = 'app-secret-0123456789abcdef';

describe('verifyWhatsAppSignature', () => {
  const raw = JSON.stringify(whatsAppStatusPayload('wamid.ABC', 'delivered', { timestamp: 1_767_225_600 }));

  it('accepts the HMAC-SHA256 of the raw body under the app secret', () => {
    const header = signWhatsApp(SECRET, raw);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWhatsAppSignature(SECRET, Buffer.from(raw), header)).toBe(true);
  });

  it('accepts upper-case hex', () => {
    const header = signWhatsApp(SECRET, raw);
    expect(verifyWhatsAppSignature(SECRET, Buffer.from(raw), `sha256=${header.slice(7).toUpperCase()}`)).toBe(true);
  });

  it('rejects a tampered body, even one differing only in whitespace', () => {
    const header = signWhatsApp(SECRET, raw);
    expect(verifyWhatsAppSignature(SECRET, Buffer.from(raw.replace('delivered', 'failed')), header)).toBe(false);
    expect(verifyWhatsAppSignature(SECRET, Buffer.from(`${raw} `), header)).toBe(false);
    expect(verifyWhatsAppSignature(SECRET, Buffer.from(JSON.stringify(JSON.parse(raw), null, 2)), header)).toBe(false);
  });

  it('rejects a signature made with another secret', () => {
    expect(verifyWhatsAppSignature(SECRET, Buffer.from(raw), signWhatsApp('another-secret', raw))).toBe(false);
  });

  it('rejects a missing or malformed header', () => {
    const hex = signWhatsApp(SECRET, raw).slice('sha256='.length);
    const body = Buffer.from(raw);
    expect(verifyWhatsAppSignature(SECRET, body, undefined)).toBe(false);
    expect(verifyWhatsAppSignature(SECRET, body, '')).toBe(false);
    expect(verifyWhatsAppSignature(SECRET, body, hex)).toBe(false); // no prefix
    expect(verifyWhatsAppSignature(SECRET, body, `sha1=${hex}`)).toBe(false);
    expect(verifyWhatsAppSignature(SECRET, body, `sha256=${hex.slice(0, 62)}`)).toBe(false); // short
    expect(verifyWhatsAppSignature(SECRET, body, `sha256=${hex}00`)).toBe(false); // long
    expect(verifyWhatsAppSignature(SECRET, body, `sha256=${'z'.repeat(64)}`)).toBe(false); // not hex
    expect(verifyWhatsAppSignature(SECRET, body, 'sha256=')).toBe(false);
  });

  it('rejects everything when no app secret is configured', () => {
    expect(verifyWhatsAppSignature('', Buffer.from(raw), signWhatsApp('', raw))).toBe(false);
  });
});

describe('whatsAppHandshake', () => {
  const query = (over: Record<string, unknown> = {}) => ({ 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-me', 'hub.challenge': '1158201444', ...over });

  it('answers the challenge when the mode is subscribe and the token matches', () => {
    expect(whatsAppHandshake(query(), 'verify-me')).toBe('1158201444');
  });

  it('accepts the nested form of the query', () => {
    expect(whatsAppHandshake({ hub: { mode: 'subscribe', verify_token: 'verify-me', challenge: 'abc' } }, 'verify-me')).toBe('abc');
  });

  it('refuses a wrong token, a prefix of it, or a longer one', () => {
    expect(whatsAppHandshake(query({ 'hub.verify_token': 'verify-you' }), 'verify-me')).toBeNull();
    expect(whatsAppHandshake(query({ 'hub.verify_token': 'verify' }), 'verify-me')).toBeNull();
    expect(whatsAppHandshake(query({ 'hub.verify_token': 'verify-me!' }), 'verify-me')).toBeNull();
  });

  it('refuses another mode, a missing token, a missing challenge, or non-string values', () => {
    expect(whatsAppHandshake(query({ 'hub.mode': 'unsubscribe' }), 'verify-me')).toBeNull();
    expect(whatsAppHandshake(query({ 'hub.verify_token': undefined }), 'verify-me')).toBeNull();
    expect(whatsAppHandshake(query({ 'hub.challenge': undefined }), 'verify-me')).toBeNull();
    expect(whatsAppHandshake(query({ 'hub.verify_token': ['verify-me', 'verify-me'] }), 'verify-me')).toBeNull();
    expect(whatsAppHandshake(query({ 'hub.challenge': ['a', 'b'] }), 'verify-me')).toBeNull();
  });

  it('refuses everything when no verify token is configured', () => {
    expect(whatsAppHandshake(query(), null)).toBeNull();
    expect(whatsAppHandshake(query({ 'hub.verify_token': '' }), '')).toBeNull();
  });
});

describe('parseWhatsAppStatuses', () => {
  const at = 1_767_225_600; // 2026-01-01T00:00:00Z

  it('reads sent and delivered with the message id and the time in ms', () => {
    expect(parseWhatsAppStatuses(whatsAppStatusPayload('wamid.S', 'sent', { timestamp: at }))).toEqual([
      { providerMessageId: 'wamid.S', status: 'sent', at: at * 1000 },
    ]);
    expect(parseWhatsAppStatuses(whatsAppStatusPayload('wamid.D', 'delivered', { timestamp: at + 5 }))).toEqual([
      { providerMessageId: 'wamid.D', status: 'delivered', at: (at + 5) * 1000 },
    ]);
  });

  it('reports read as delivered', () => {
    expect(parseWhatsAppStatuses(whatsAppStatusPayload('wamid.R', 'read', { timestamp: at }))).toEqual([
      { providerMessageId: 'wamid.R', status: 'delivered', at: at * 1000 },
    ]);
  });

  it('reads failed with the error code and text', () => {
    const [update, ...rest] = parseWhatsAppStatuses(whatsAppStatusPayload('wamid.F', 'failed', { timestamp: at, errorCode: 131026, title: 'Message undeliverable' }));
    expect(rest).toEqual([]);
    expect(update).toMatchObject({ providerMessageId: 'wamid.F', status: 'failed', at: at * 1000, errorCode: '131026' });
    expect(update!.error).toContain('Message undeliverable');
    expect(update!.error).toContain('Message Undeliverable.'); // error_data.details
  });

  it('reads every status of every change of every entry, skipping other statuses and inbound messages', () => {
    const payload = whatsAppStatusPayload('wamid.1', 'sent', { timestamp: at }) as { entry: { changes: { value: { statuses: unknown[]; messages?: unknown[] } }[] }[] };
    const value = payload.entry[0]!.changes[0]!.value;
    value.statuses.push({ id: 'wamid.2', status: 'deleted', timestamp: String(at), recipient_id: '1' });
    value.statuses.push({ id: 'wamid.3', status: 'failed', timestamp: String(at), recipient_id: '1', errors: [{ code: 131047, title: 'Re-engagement message' }] });
    value.messages = [{ from: '16505551234', id: 'wamid.IN', timestamp: String(at), type: 'text', text: { body: 'hi' } }];
    const second = whatsAppStatusPayload('wamid.4', 'read', { timestamp: at }) as { entry: unknown[] };
    payload.entry.push(second.entry[0] as (typeof payload.entry)[number]);

    expect(parseWhatsAppStatuses(payload)).toEqual([
      { providerMessageId: 'wamid.1', status: 'sent', at: at * 1000 },
      { providerMessageId: 'wamid.3', status: 'failed', at: at * 1000, errorCode: '131047', error: 'Re-engagement message' },
      { providerMessageId: 'wamid.4', status: 'delivered', at: at * 1000 },
    ]);
  });

  it('ignores a message-only webhook and changes to other fields', () => {
    const inbound = {
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {}, messages: [{ id: 'wamid.IN', type: 'text' }] } }] }],
    };
    expect(parseWhatsAppStatuses(inbound)).toEqual([]);
    const other = whatsAppStatusPayload('wamid.X', 'sent') as { entry: { changes: { field: string }[] }[] };
    other.entry[0]!.changes[0]!.field = 'message_template_status_update';
    expect(parseWhatsAppStatuses(other)).toEqual([]);
  });

  it('ignores a payload for another object type', () => {
    const payload = whatsAppStatusPayload('wamid.X', 'sent');
    expect(parseWhatsAppStatuses({ ...payload, object: 'page' })).toEqual([]);
  });

  it('leaves the time out when the timestamp is unreadable', () => {
    const payload = whatsAppStatusPayload('wamid.T', 'delivered') as { entry: { changes: { value: { statuses: { timestamp: unknown }[] } }[] }[] };
    payload.entry[0]!.changes[0]!.value.statuses[0]!.timestamp = 'yesterday';
    expect(parseWhatsAppStatuses(payload)).toEqual([{ providerMessageId: 'wamid.T', status: 'delivered' }]);
  });

  it('returns [] for junk, never throwing', () => {
    const junk: unknown[] = [
      undefined,
      null,
      42,
      'statuses',
      [],
      {},
      { object: 'whatsapp_business_account' },
      { object: 'whatsapp_business_account', entry: 'x' },
      { object: 'whatsapp_business_account', entry: [null, 1, { changes: null }, { changes: [null, { field: 'messages', value: null }] }] },
      { object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: { statuses: [null, 7, { id: 5, status: 'sent' }, { id: 'wamid.Z' }, { id: '', status: 'sent' }] } }] }] },
      { object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: { statuses: [{ id: 'wamid.P', status: '__proto__' }, { id: 'wamid.Q', status: 'toString' }] } }] }] },
      {
        object: 'whatsapp_business_account',
        get entry(): unknown {
          throw new Error('hostile');
        },
      },
    ];
    for (const body of junk) expect(parseWhatsAppStatuses(body)).toEqual([]);
  });

  it('a failed status without errors is still reported failed', () => {
    const payload = { object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: { statuses: [{ id: 'wamid.E', status: 'failed', errors: 'nope' }] } }] }] };
    expect(parseWhatsAppStatuses(payload)).toEqual([{ providerMessageId: 'wamid.E', status: 'failed' }]);
  });
});
