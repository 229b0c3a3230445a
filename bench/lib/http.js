/* global fetch, AbortSignal */

/** Thrown when a response does not have the expected status; carries the status and body. */
export class HttpError extends Error {
  constructor(method, url, status, body) {
    super(`${method} ${url} -> ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * One JSON request: returns the parsed body when the status is `expect`, throws HttpError otherwise.
 * `headers` are added to content-type/accept; `body` is serialised when given.
 */
export async function requestJson(method, url, { headers = {}, body, expect = 200, timeoutMs = 10_000 } = {}) {
  const response = await fetch(url, {
    method,
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text for the error message
  }
  if (response.status !== expect) throw new HttpError(method, url, response.status, parsed);
  return parsed;
}
