/** The event types an endpoint can subscribe to (API.md "Webhooks"); `*` means all of them. */
export const WEBHOOK_EVENT_TYPES = [
  'verification.created',
  'verification.delivered',
  'verification.delivery_failed',
  'verification.approved',
  'verification.failed',
  'verification.expired',
  'verification.canceled',
  'identity.merged',
  'identifier.locked',
  'balance.low',
  'sandbox.message_received',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The type of the event `POST /v1/webhook/test` sends (never stored, never subscribed to). */
export const TEST_EVENT_TYPE = 'webhook.test';

/** What an endpoint stores: `*`, or the list of types it wants. */
export type EventSelection = '*' | WebhookEventType[];

export function encodeSelection(selection: EventSelection): string {
  return selection === '*' ? '*' : JSON.stringify(selection);
}

export function decodeSelection(stored: string): EventSelection {
  if (stored === '*') return '*';
  const parsed = JSON.parse(stored) as unknown;
  return Array.isArray(parsed) ? (parsed.filter((t): t is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(t as string))) : [];
}

/** The answer's form of a selection: `["*"]` or the list. */
export function selectionView(selection: EventSelection): string[] {
  return selection === '*' ? ['*'] : [...selection];
}

/**
 * A request's `events` read as a selection: `*` anywhere means all; duplicates dropped. Returns the
 * unknown names when there are any.
 */
export function parseSelection(events: readonly string[]): { ok: true; selection: EventSelection } | { ok: false; unknown: string[] } {
  const unknown = events.filter((e) => e !== '*' && !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(e));
  if (unknown.length > 0) return { ok: false, unknown };
  if (events.includes('*')) return { ok: true, selection: '*' };
  return { ok: true, selection: [...new Set(events)] as WebhookEventType[] };
}
