import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * docs/api.md is the public contract shipped with the repository. Every `METHOD /path` it mentions
 * outside a "planned, not yet served" section must be served (in the live /openapi.json, or one of
 * the hidden ops routes), every operation in /openapi.json must be documented, and every planned
 * endpoint must really be absent. No link in the READMEs or docs/ may leave the repository.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const API_DOC = join(ROOT, 'docs/api.md');
const PLANNED = /planned, not yet served/i;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const MENTION = new RegExp(`\\b((?:${METHODS.join('|')})(?:\\|(?:${METHODS.join('|')}))*) +(/[^\\s\`'"()<>\\[\\],;]*)`, 'g');

/** Routes that are served but hidden from /openapi.json (src/http/routes/ops.ts, swagger-ui). */
const HIDDEN_OPS = ['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /openapi.json', 'GET /docs'];

/** `/v1/verifications/{id}?x=1` and `/v1/verifications/:id` → `/v1/verifications/{}`. */
function normalise(path: string): string {
  const bare = path.split(/[?#]/)[0]!.replace(/[.:]+$/, '');
  return bare.replace(/\{[^}]+\}/g, '{}').replace(/:[A-Za-z_][A-Za-z0-9_]*/g, '{}');
}

interface Mention {
  op: string; // "GET /v1/verifications/{}"
  path: string; // as written, e.g. /v1/verifications/{id}
  planned: boolean;
  line: number;
}

/** Every `METHOD /path` in the doc; `planned` when under a heading that says "planned, not yet served" (until the next heading of that level or higher). */
function mentions(markdown: string): Mention[] {
  const found: Mention[] = [];
  let plannedLevel: number | null = null;
  let inFence = false;
  markdown.split('\n').forEach((text, index) => {
    if (/^\s*```/.test(text)) inFence = !inFence;
    const heading = inFence ? null : /^(#{1,6})\s+(.*)$/.exec(text);
    if (heading) {
      const level = heading[1]!.length;
      if (plannedLevel !== null && level <= plannedLevel) plannedLevel = null;
      if (plannedLevel === null && PLANNED.test(heading[2]!)) plannedLevel = level;
      return;
    }
    for (const match of text.matchAll(MENTION)) {
      const path = match[2]!.split(/[?#]/)[0]!.replace(/[.:]+$/, '');
      for (const method of match[1]!.split('|')) {
        found.push({ op: `${method} ${normalise(path)}`, path, planned: plannedLevel !== null, line: index + 1 });
      }
    }
  });
  return found;
}

/** The operations of an OpenAPI document as `METHOD /path` with `{}` params. */
function openApiOps(spec: { paths: Record<string, Record<string, unknown>> }): Set<string> {
  const ops = new Set<string>();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of Object.keys(item)) {
      if ((METHODS as readonly string[]).includes(method.toUpperCase())) ops.add(`${method.toUpperCase()} ${normalise(path)}`);
    }
  }
  return ops;
}

/** A concrete URL for a documented path (`{id}` → a syntactically fine placeholder). */
const concrete = (path: string): string => path.replace(/\{([^}]+)\}/g, (_m, name: string) => (name === 'id' ? 'int_0placeholder' : `${name}_0placeholder`));

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? markdownFiles(full) : name.endsWith('.md') ? [full] : [];
  });
}

/** Markdown inline links, reference definitions and HTML href/src targets. */
function linkTargets(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  const targets: string[] = [];
  for (const m of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of withoutCode.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) targets.push(m[1]!);
  for (const m of withoutCode.matchAll(/\b(?:href|src)\s*=\s*["']([^"']+)["']/g)) targets.push(m[1]!);
  return targets;
}

const doc = readFileSync(API_DOC, 'utf8');
const documented = mentions(doc);
const served = new Set(documented.filter((m) => !m.planned).map((m) => m.op));
const planned = documented.filter((m) => m.planned);

let rt: TestRuntime;
let live: Set<string>;

beforeAll(async () => {
  rt = await startRuntime();
  const res = await rt.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  live = openApiOps(res.json());
});

afterAll(async () => {
  await rt?.dispose();
});

describe('docs/api.md against the live /openapi.json', () => {
  it('parses the endpoints it documents', () => {
    // A sanity floor: the parser found the served API (the planned sections shrink as features ship).
    expect(served.size).toBeGreaterThanOrEqual(30);
    expect(live.size).toBeGreaterThanOrEqual(25);
  });

  it('documents as served only what the server serves', () => {
    const missing = [...served].filter((op) => !live.has(op) && !HIDDEN_OPS.includes(op));
    expect(missing, 'documented as served but not in /openapi.json').toEqual([]);
  });

  it('documents every operation in /openapi.json', () => {
    const undocumented = [...live].filter((op) => !served.has(op));
    expect(undocumented, 'in /openapi.json but not in docs/api.md').toEqual([]);
  });

  it('documents the hidden ops routes, and they are registered but absent from /openapi.json', async () => {
    for (const op of HIDDEN_OPS) {
      expect(served.has(op), `${op} documented`).toBe(true);
      expect(live.has(op), `${op} hidden from /openapi.json`).toBe(false);
      const [method, url] = op.split(' ') as ['GET', string];
      const res = await rt.app.inject({ method, url });
      expect(res.statusCode, `${op} is served`).not.toBe(404);
    }
  });

  it('marks as planned only endpoints the server does not have: absent from /openapi.json and answered 404', async () => {
    for (const m of planned) {
      expect(live.has(m.op), `${m.op} (line ${m.line}) is served: move it out of the planned section`).toBe(false);
      expect(served.has(m.op), `${m.op} documented both as served and as planned`).toBe(false);
      const method = m.op.split(' ')[0] as (typeof METHODS)[number];
      // Unregistered routes are answered by the root 404 handler before any API-key hook runs.
      const res = await rt.app.inject({ method, url: concrete(m.path), ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) });
      expect(res.statusCode, `${m.op} (line ${m.line})`).toBe(404);
      expect((res.json() as { type: string }).type).toContain('not-found');
    }
  });

  it('serves and documents the sandbox inbox endpoints the SDK calls', () => {
    for (const op of [
      'POST /v1/sandbox/inboxes',
      'GET /v1/sandbox/inboxes',
      'GET /v1/sandbox/inboxes/{}',
      'POST /v1/sandbox/inboxes/{}/finish',
      'POST /v1/sandbox/inboxes/{}/cancel',
      'POST /v1/sandbox/inboxes/{}/reorder',
    ]) {
      expect(served.has(op), `${op} documented`).toBe(true);
      expect(live.has(op), `${op} served`).toBe(true);
    }
  });
});

describe('the repository stands alone', () => {
  const files = [join(ROOT, 'README.md'), join(ROOT, 'packages/client/README.md'), ...markdownFiles(join(ROOT, 'docs'))];

  it('has no link that leaves the repository, and every relative link resolves', () => {
    const bad: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const name = relative(ROOT, file);
      if (text.includes('../shared')) bad.push(`${name}: mentions ../shared`);
      for (const target of linkTargets(text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue; // https:, mailto:, anchors
        const path = decodeURIComponent(target.split('#')[0]!.split('?')[0]!);
        const resolved = path.startsWith('/') ? join(ROOT, path) : resolve(dirname(file), path);
        const inside = relative(ROOT, resolved);
        if (inside.startsWith('..') || resolve(ROOT, inside) !== resolved) bad.push(`${name}: ${target} leaves the repository`);
        else if (!existsSync(resolved)) bad.push(`${name}: ${target} does not exist`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('links the contract from the README', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('](docs/api.md)');
  });
});
