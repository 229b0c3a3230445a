import { fail, ok, problem, type Result } from './errors.js';

/**
 * A sandbox inbox's life (API.md "Sandbox"): it opens `waiting`; a message with a code moves it to
 * `otp_received` (later codes keep it there); `finish` closes it while open, `cancel` only while
 * nothing has arrived; `reorder` opens a new waiting window (without a second charge) while open. An
 * open inbox whose window ends is `expired` (the sweeper, or the first request that notices).
 *
 *   waiting ──code──▶ otp_received ──code──▶ otp_received
 *      │  ▲                │   │
 *      │  └───reorder──────┘   │           (reorder from waiting: a new window, still waiting)
 *      ├─cancel─▶ canceled     │
 *      ├─finish─▶ finished ◀───┤
 *      └─window ends─▶ expired ◀┘
 *
 * Pure: time comes in as `now`, the window length as `ttlMs`.
 */
export type InboxStatus = 'waiting' | 'otp_received' | 'finished' | 'canceled' | 'expired';
export type InboxAction = 'finish' | 'cancel' | 'reorder';

export const INBOX_STATUSES: readonly InboxStatus[] = ['waiting', 'otp_received', 'finished', 'canceled', 'expired'];

/** The part of an inbox its state machine reads. */
export interface InboxState {
  readonly status: InboxStatus;
  readonly expires_at: number;
}

/** An open inbox takes messages and holds its address (and its pool number). */
export function isOpen(status: InboxStatus): boolean {
  return status === 'waiting' || status === 'otp_received';
}

/** The status as of `now`: an open inbox past its window reads as expired before anyone records it. */
export function effectiveInboxStatus(inbox: InboxState, now: number): InboxStatus {
  return isOpen(inbox.status) && now >= inbox.expires_at ? 'expired' : inbox.status;
}

/** Whether an inbox is open and its window has ended (the sweeper's and a noticing request's test). */
export function isLapsed(inbox: InboxState, now: number): boolean {
  return isOpen(inbox.status) && now >= inbox.expires_at;
}

const ALLOWED_FROM: Record<InboxAction, readonly InboxStatus[]> = {
  finish: ['waiting', 'otp_received'],
  cancel: ['waiting'],
  reorder: ['waiting', 'otp_received'],
};

const TARGET: Record<InboxAction, InboxStatus> = { finish: 'finished', cancel: 'canceled', reorder: 'waiting' };

/**
 * The state after an operator action, or 409 invalid-state naming the status it was refused in.
 * Reorder opens a new window of `ttlMs` from `now`; the others keep the window as it was.
 */
export function applyInboxAction(inbox: InboxState, action: InboxAction, now: number, ttlMs: number): Result<InboxState> {
  const status = effectiveInboxStatus(inbox, now);
  if (!ALLOWED_FROM[action].includes(status)) {
    const allowed = ALLOWED_FROM[action].join(' or ');
    return fail(problem('invalid-state', `The inbox is ${status}; ${action} is only possible while it is ${allowed}.`, { inbox_status: status }));
  }
  return ok({ status: TARGET[action], expires_at: action === 'reorder' ? now + ttlMs : inbox.expires_at });
}

/**
 * The state after a message lands: a code moves an open inbox to `otp_received`; a message without
 * one leaves the status as it was. A closed or lapsed inbox takes nothing (null).
 */
export function receiveInInbox(inbox: InboxState, hasCode: boolean, now: number): InboxState | null {
  if (isLapsed(inbox, now) || !isOpen(inbox.status)) return null;
  return hasCode ? { status: 'otp_received', expires_at: inbox.expires_at } : inbox;
}
