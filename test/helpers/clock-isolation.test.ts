import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Issue 10 item 16: every test gets its own clock. A `ManualClock` made once for a file (module scope,
 * a `describe` body, `beforeAll`) and moved by one test changes what the next test sees, so results
 * depend on the order tests run in. This scan of the test sources fails, naming file and line, on:
 *
 * - `new ManualClock(` whose nearest enclosing function is none (module scope) or the body of a suite
 *   or once-per-suite hook (`describe…`, `suite…`, `eachDialect(…)(…)`, `beforeAll`, `afterAll`);
 * - a cast to `ManualClock` (`rt.services.clock as ManualClock`): the way a test moves the clock of a
 *   runtime it did not build.
 *
 * Allowed: a clock made in a test, in `beforeEach`, or in a fixture function a test calls (see
 * test/helpers/clock.ts: `runtimeWithClock`, and `frozenClock` for a runtime the tests of a file share).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SUITE_CALLS = new Set(['describe', 'suite', 'beforeAll', 'afterAll', 'eachDialect']);

interface ClockViolation {
  file: string;
  line: number;
  message: string;
}

/** The identifier a call chain starts from: `describe` for `describe.skipIf(x)(…)`, `it` for `it.each([…])(…)`. */
function rootName(expr: ts.Expression): string | null {
  let e: ts.Expression = expr;
  for (;;) {
    if (ts.isIdentifier(e)) return e.text;
    if (ts.isPropertyAccessExpression(e)) e = e.expression;
    else if (ts.isCallExpression(e)) e = e.expression;
    else if (ts.isParenthesizedExpression(e)) e = e.expression;
    else return null;
  }
}

/** Where a clock made at `node` lives: null when per test, else why it is shared. */
function sharedScope(node: ts.Node): string | null {
  for (let p: ts.Node | undefined = node.parent; p; p = p.parent) {
    if (!ts.isFunctionLike(p)) continue;
    const call = p.parent;
    if (call && ts.isCallExpression(call) && call.arguments.includes(p as unknown as ts.Expression)) {
      const name = rootName(call.expression);
      if (name && SUITE_CALLS.has(name)) return `inside a ${name}(…) body`;
    }
    return null; // a test, a per-test hook, or a fixture function
  }
  return 'at module scope';
}

/** Scans one source text. */
function findSharedClocks(file: string, text: string): ClockViolation[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ClockViolation[] = [];
  const at = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const visit = (node: ts.Node): void => {
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'ManualClock') {
      const where = sharedScope(node);
      if (where) {
        out.push({
          file,
          line: at(node),
          message:
            `new ManualClock( ${where}: one clock shared by several tests, so a test that moves it changes what the next one sees. ` +
            'Make it per test (in the test, in beforeEach, or a fixture such as runtimeWithClock in test/helpers/clock.ts), ' +
            'or give a runtime the tests share a frozenClock.',
        });
      }
    }
    if ((ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) && ts.isTypeReferenceNode(node.type) && node.type.typeName.getText(source) === 'ManualClock') {
      out.push({
        file,
        line: at(node),
        message: 'cast to ManualClock: a test moves the clock of a runtime it did not build; build the runtime with its own clock (runtimeWithClock in test/helpers/clock.ts).',
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function testSources(dir: string, all: boolean): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...testSources(path, all));
    else if (entry.name.endsWith('.ts') && (all || entry.name.endsWith('.test.ts'))) files.push(path);
  }
  return files;
}

describe('every test gets its own clock', () => {
  it('the scan finds a shared clock where tests keep one, and leaves per-test clocks alone', () => {
    const sample = [
      "import { ManualClock } from '../../src/domain/clock.js';",
      'const clock = new ManualClock(0);', // 2: module scope
      'let hooked: ManualClock;',
      'beforeAll(() => { hooked = new ManualClock(); });', // 4: beforeAll
      "describe('x', () => {",
      '  const inSuite = new ManualClock();', // 6: describe body
      '  let fresh: ManualClock;',
      '  beforeEach(() => { fresh = new ManualClock(); });',
      "  it('y', async () => { const own = new ManualClock(); (rt.services.clock as ManualClock).advance(1); });", // 9: the cast
      '  const fixture = () => ({ clock: new ManualClock() });',
      '});',
      "describe.skipIf(true)('z', () => { useRuntime({ clock: new ManualClock() }); });", // 12
      "eachDialect(d)('w', (dialect) => { const c = new ManualClock(); });", // 13
      "it.each([1])('v', () => { const c = new ManualClock(); });",
    ].join('\n');
    const found = findSharedClocks('sample.test.ts', sample);
    expect(found.map((v) => v.line)).toEqual([2, 4, 6, 9, 12, 13]);
    expect(found[0]?.message).toMatch(/^new ManualClock\( at module scope/);
    expect(found[1]?.message).toMatch(/^new ManualClock\( inside a beforeAll\(…\) body/);
    expect(found[2]?.message).toMatch(/^new ManualClock\( inside a describe\(…\) body/);
    expect(found[3]?.message).toMatch(/^cast to ManualClock/);
  });

  it('no test file shares a ManualClock between tests', () => {
    const files = [...testSources(join(ROOT, 'test'), true), ...testSources(join(ROOT, 'src'), false), ...testSources(join(ROOT, 'packages'), false)];
    expect(files.length).toBeGreaterThan(50);
    const violations = files.flatMap((path) => findSharedClocks(relative(ROOT, path), readFileSync(path, 'utf8')));
    expect(violations.map((v) => `${v.file}:${v.line}: ${v.message}`)).toEqual([]);
  });
});
