/**
 * Outgoing HTTP (webhook attempts, provider API calls) on a worker thread of its own.
 *
 * The server's event loop is what limits a send: every request, SQL statement and outgoing call runs
 * on it, while the second core of a small machine sits partly idle. An outgoing call done here cost
 * the main thread 43–68 µs (undici's request and response handling, the socket writes); handed to the
 * thread it costs about 12 µs (bench/README.md, "Outgoing HTTP on a thread"). The calls of one turn
 * cross to the thread in one message, and their answers come back the same way.
 *
 * `createHttpClient` gives a client with HttpClient's contract, on the process's one shared thread when
 * that is enabled (OTPGATE_HTTP_THREAD, on by default: `useHttpThread`), else on the main thread. What
 * cannot cross to a thread stays on the main one: a client with a custom `lookup` function (tests'
 * stub resolvers). The SSRF guard's own lookup crosses as `guarded: true` and runs in the thread, at
 * connect time, as before. The thread starts on the first call, holds the process open only while
 * calls are in flight, and is started again if it dies (the calls it held fail as network errors; their
 * callers retry as they do any).
 */
import { existsSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HttpClient, HttpTimeoutError, ResponseTooLargeError, type HttpRequester, type HttpRequestOptions, type HttpResponse } from '../delivery/providers/http-client.js';
import { BlockedAddressError, guardedLookup } from './url-guard.js';
import type { FromThread, ThreadClientOptions, ToThread, WireError } from './http-thread-protocol.js';

export type { ThreadClientOptions } from './http-thread-protocol.js';

/**
 * The thread's code: beside this file once built. Under the test runner this file is TypeScript and
 * Node cannot start a thread on it: the last build's copy is used (the test setup builds first).
 */
export function httpThreadWorkerFile(): URL | null {
  const here = new URL('./http-thread-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/net/http-thread-worker.js', import.meta.url);
  return import.meta.url.endsWith('.ts') && existsSync(fileURLToPath(built)) ? built : null;
}

interface Waiting {
  resolve(answer: FromThread): void;
  reject(error: Error): void;
}

/** One worker thread and the calls in flight on it. */
export class HttpThread {
  #worker: Worker | null = null;
  #outgoing: ToThread[] = [];
  #scheduled = false;
  readonly #waiting = new Map<number, Waiting>();
  readonly #clients = new Map<number, ThreadClientOptions>();
  #nextId = 1;

  constructor(private readonly file: URL) {}

  /** Calls in flight (tests). */
  get inFlight(): number {
    return this.#waiting.size;
  }

  /** Registers a client; it is created in the thread (again, if the thread is restarted) before its first call. */
  open(options: ThreadClientOptions): number {
    const client = this.#nextId++;
    this.#clients.set(client, options);
    if (this.#worker) this.#send({ t: 'open', client, options });
    return client;
  }

  call(client: number, url: string, init: HttpRequestOptions): Promise<FromThread> {
    const { signal, ...rest } = init;
    signal?.throwIfAborted();
    const id = this.#nextId++;
    return new Promise<FromThread>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.#waiting.has(id)) return;
        this.#forget(id);
        this.#send({ t: 'abort', id });
        const reason: unknown = signal?.reason;
        reject(reason instanceof Error ? reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#wait(id, {
        resolve: (answer) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(answer);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.#send({ t: 'req', id, client, url, init: rest, abortable: signal !== undefined && signal !== null });
    });
  }

  /** Closes a client in the thread (its calls in flight get their grace, as HttpClient.close gives). */
  async close(client: number): Promise<void> {
    this.#clients.delete(client);
    if (!this.#worker) return;
    const id = this.#nextId++;
    await new Promise<void>((resolve) => {
      this.#wait(id, { resolve: () => resolve(), reject: () => resolve() }); // a dead thread closed it too
      this.#send({ t: 'close', id, client });
    });
  }

  /** Ends the thread (tests; a server leaves it to end with the process). */
  async stop(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#lost(worker, new Error('the HTTP thread was stopped'));
    await worker.terminate();
  }

  #wait(id: number, waiting: Waiting): void {
    this.#waiting.set(id, waiting);
    if (this.#waiting.size === 1) this.#worker?.ref();
  }

  #forget(id: number): void {
    this.#waiting.delete(id);
    if (this.#waiting.size === 0) this.#worker?.unref();
  }

  #send(message: ToThread): void {
    if (!this.#worker) this.#start();
    this.#outgoing.push(message);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const batch = this.#outgoing;
      this.#outgoing = [];
      if (batch.length > 0) this.#worker?.postMessage(batch);
    });
  }

  #start(): void {
    const worker = new Worker(this.file);
    worker.on('message', (batch: FromThread[]) => this.#receive(batch));
    worker.on('error', (err) => this.#lost(worker, err));
    worker.on('exit', (code) => this.#lost(worker, Object.assign(new Error(`the HTTP thread stopped (exit code ${code})`), { code: 'ETHREADEXIT' })));
    this.#worker = worker;
    if (this.#waiting.size === 0) worker.unref();
    // Its clients first, before any call queued for it.
    this.#outgoing.unshift(...[...this.#clients].map(([client, options]): ToThread => ({ t: 'open', client, options })));
  }

  #receive(batch: FromThread[]): void {
    for (const answer of batch) {
      const waiting = this.#waiting.get(answer.id);
      if (!waiting) continue; // aborted meanwhile
      this.#forget(answer.id);
      waiting.resolve(answer);
    }
  }

  #lost(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    this.#outgoing = []; // their callers are failed below: not to be sent by the next thread
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(error);
  }
}

function rebuild(error: WireError): Error {
  if (error.name === 'HttpTimeoutError') return new HttpTimeoutError(error.timeoutMs ?? 0);
  if (error.name === 'BlockedAddressError') return new BlockedAddressError(error.message);
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  return error.code === undefined ? rebuilt : Object.assign(rebuilt, { code: error.code });
}

/** HttpClient's contract, with the call made on an HttpThread. */
export class ThreadedHttpClient implements HttpRequester {
  readonly #client: number;
  readonly #limit: number;
  #closed = false;

  constructor(
    private readonly thread: HttpThread,
    options: ThreadClientOptions = {},
  ) {
    this.#client = thread.open(options);
    this.#limit = options.maxBodyBytes ?? 1024 * 1024;
  }

  async request(url: string | URL, init: HttpRequestOptions = {}): Promise<HttpResponse> {
    if (this.#closed) throw new Error('HTTP client closed');
    const answer = await this.thread.call(this.#client, typeof url === 'string' ? url : url.href, init);
    if ('error' in answer) throw rebuild(answer.error);
    if (!('status' in answer)) throw new Error('the HTTP thread answered a call with no response');
    const { status, headers, body, tooLarge } = answer;
    const limit = this.#limit;
    const text = async (): Promise<string> => {
      if (tooLarge) throw new ResponseTooLargeError(limit);
      return body;
    };
    return { status, headers, text, json: async () => JSON.parse(await text()) as unknown };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.thread.close(this.#client);
  }
}

let threadEnabled = false;
let shared: HttpThread | null | undefined;

/** Whether clients made from now on use the shared thread (the process's configuration, OTPGATE_HTTP_THREAD). */
export function useHttpThread(enabled: boolean): void {
  threadEnabled = enabled;
}

/** The process's shared thread, or null when it cannot be started here (no built copy of its code). */
export function sharedHttpThread(): HttpThread | null {
  if (shared === undefined) {
    const file = httpThreadWorkerFile();
    shared = file ? new HttpThread(file) : null;
  }
  return shared;
}

/**
 * A client for outgoing calls: on the shared thread when enabled (and available), else an HttpClient on
 * the main thread. `guarded`: new connections resolve through the SSRF guard's lookup.
 */
export function createHttpClient(options: ThreadClientOptions = {}): HttpRequester {
  const thread = threadEnabled ? sharedHttpThread() : null;
  if (thread) return new ThreadedHttpClient(thread, options);
  const { guarded, ...rest } = options;
  return new HttpClient(guarded ? { ...rest, lookup: guardedLookup(undefined) as unknown as LookupFunction } : rest);
}
