/**
 * Twilio's message status callback (the form POSTed to a message's StatusCallback URL) → a delivery receipt.
 * The signature must be checked first (verifyTwilioSignature); this only reads the fields.
 */
import type { ProviderStatusUpdate } from './provider.js';

/** Twilio SIDs are two letters and 32 hex digits; anything id-like and short is accepted, junk is not. */
const MESSAGE_SID = /^[A-Za-z0-9]{2,64}$/;

function field(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  if (typeof value === 'string') return value.trim() || undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * `sent` → sent, `delivered` → delivered, `undelivered` / `failed` → failed (with Twilio's ErrorCode);
 * the intermediate states (`queued`, `accepted`, `sending`, `scheduled`, …), unknown states and junk → null.
 * Never throws.
 */
export function parseTwilioStatus(params: Record<string, unknown>): ProviderStatusUpdate | null {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return null;
  try {
    const sid = field(params, 'MessageSid') ?? field(params, 'SmsSid');
    const status = field(params, 'MessageStatus') ?? field(params, 'SmsStatus');
    if (!sid || !MESSAGE_SID.test(sid) || !status) return null;
    switch (status.toLowerCase()) {
      case 'sent':
        return { providerMessageId: sid, status: 'sent' };
      case 'delivered':
        return { providerMessageId: sid, status: 'delivered' };
      case 'undelivered':
      case 'failed': {
        const update: ProviderStatusUpdate = { providerMessageId: sid, status: 'failed' };
        const code = field(params, 'ErrorCode');
        if (code) update.errorCode = code;
        const message = field(params, 'ErrorMessage');
        update.error = `twilio: message ${status.toLowerCase()}${code ? ` (error ${code})` : ''}${message ? `: ${message.slice(0, 300)}` : ''}`;
        return update;
      }
      default:
        return null;
    }
  } catch {
    return null;
  }
}
