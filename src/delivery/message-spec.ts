import type { Channel } from '../domain/policy.js';

/** One step of a delivery route: a channel and the address it reaches. */
export interface RouteStep {
  channel: Channel;
  to: string;
}

/**
 * What a delivery attempt sends, kept on its `deliveries` row (never the code: that stays sealed on
 * the verification): where it goes, how the text is rendered, and the channels still to try when
 * this attempt fails, in the policy's order. Every fallback copies it with the route shortened.
 */
export interface MessageSpec {
  to: string;
  /** The locale the request asked for, and the phone's country, to choose the template language. */
  locale: string | null;
  country: string | null;
  ttl_s: number;
  brand: string;
  app_domain: string | null;
  android_app_hash: string | null;
  /** No receipt within this many seconds → the next channel (null: off). */
  fallback_after_s: number | null;
  /** The channels to try next, in order, after this attempt. */
  route: RouteStep[];
}

export function parseSpec(json: string | null): MessageSpec | null {
  if (json === null) return null;
  return JSON.parse(json) as MessageSpec;
}
