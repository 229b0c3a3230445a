/** The messages between http-thread.ts (the main thread) and http-thread-worker.ts, sent in arrays. */
import type { HttpClientOptions, HttpRequestOptions } from '../delivery/providers/http-client.js';

/** A client's settings as they cross to the thread: `guarded` stands for the SSRF guard's lookup (a function cannot cross). */
export type ThreadClientOptions = Omit<HttpClientOptions, 'lookup'> & { guarded?: boolean };

export type ToThread =
  | { t: 'open'; client: number; options: ThreadClientOptions }
  | { t: 'req'; id: number; client: number; url: string; init: Omit<HttpRequestOptions, 'signal'>; abortable: boolean }
  | { t: 'abort'; id: number }
  | { t: 'close'; id: number; client: number };

/** An error as it crosses: enough to rebuild the types callers tell apart (timeouts, the SSRF guard, network codes). */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  timeoutMs?: number;
}

export type FromThread =
  | { id: number; status: number; headers: Record<string, string>; body: string; tooLarge: boolean }
  | { id: number; error: WireError }
  | { id: number; closed: true };
