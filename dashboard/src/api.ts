/** The admin API over the console session: the CSRF token goes on every state change. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Record<string, string[]>;
  retry_after?: number;
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail || problem.title);
  }
}

let csrfToken = '';
export const setCsrf = (token: string): void => {
  csrfToken = token;
};

export interface SessionInfo {
  signed_in: boolean;
  csrf_token: string;
  idle_timeout_s: number;
  expires_at: string;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => ({ type: 'internal-error', title: 'Unreadable answer', status: res.status, detail: `HTTP ${res.status}` }))) as unknown;
  if (!res.ok) {
    const problem = data as Problem;
    if (res.status === 401 && !path.startsWith('/dashboard/session')) {
      location.assign(`/dashboard/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    throw new ApiError(problem);
  }
  return data as T;
}

export const get = <T>(path: string): Promise<T> => request<T>('GET', path);
export const post = <T>(path: string, body?: unknown): Promise<T> => request<T>('POST', path, body ?? {});
export const patch = <T>(path: string, body: unknown): Promise<T> => request<T>('PATCH', path, body);
export const put = <T>(path: string, body: unknown): Promise<T> => request<T>('PUT', path, body);
export const del = <T>(path: string): Promise<T> => request<T>('DELETE', path);

export const qs = (params: Record<string, string | number | undefined | null>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
};

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface Key {
  id: string;
  mode: 'test' | 'live';
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}
export interface IssuedKey {
  id: string;
  mode: 'test' | 'live';
  key: string;
  signing_secret: string;
  created_at: string;
}
export interface Integration {
  id: string;
  name: string;
  trust_level: string;
  policy: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  keys?: Key[];
}

/** Every integration (the console lists at most a few hundred). */
export async function allIntegrations(): Promise<Integration[]> {
  const out: Integration[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<Integration> = await get<Page<Integration>>(`/admin/v1/integrations${qs({ limit: 100, cursor })}`);
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && out.length < 1000);
  return out;
}
