// Developer tool: CPU profiles of the otpgate server under the request and check loads.
//   node bench/profile.js [--duration 5]   → prints the top self-time functions of each phase and
//   writes the .cpuprofile files (open them in Chrome DevTools) to the directory it names.
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoads } from './lib/load.js';
import { collectSandboxCodes, createBenchIntegration } from './lib/otpgate-api.js';
import { brazilianMobile } from './lib/phases.js';
import { cleanup } from './lib/processes.js';
import { startOtpgate } from './lib/servers.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, connections: { type: 'string', default: '50' }, top: { type: 'string', default: '40' } } });
const duration = Number(values.duration);
const connections = Number(values.connections);
const print = (text) => process.stdout.write(`${text}\n`);
const outDir = await mkdtemp(join(tmpdir(), 'otpgate-profile-'));

async function profiled(phase, dataDir, run) {
  const dir = join(outDir, phase);
  const env = { ...(dataDir ? { OTPGATE_DATA_DIR: dataDir, OTPGATE_ADMIN_TOKEN: 'profile-admin-token-0123456789' } : { OTPGATE_ADMIN_TOKEN: 'profile-admin-token-0123456789' }) };
  const server = await startOtpgate(env, { name: `otpgate-${phase}`, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const result = await run(server);
  await server.stop();
  const [file] = await readdir(dir);
  return { server, result, file: join(dir, file) };
}

function summarize(profilePath, top) {
  return readFile(profilePath, 'utf8').then((text) => {
    const profile = JSON.parse(text);
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const self = new Map();
    for (const id of profile.samples) {
      const node = byId.get(id);
      const { functionName, url, lineNumber } = node.callFrame;
      const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '~').replace(/^.*\/(src|dist)\//, '$1/')}:${lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + 1);
    }
    const total = profile.samples.length;
    const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
    return [`${profilePath}: ${total} samples`, ...rows.map(([key, n]) => `${((100 * n) / total).toFixed(1).padStart(5)}%  ${key}`)].join('\n');
  });
}

try {
  let apiKey;
  let expected = 0;
  const request = await profiled('request', null, async (server) => {
    apiKey = await createBenchIntegration(server);
    let next = 0;
    const result = await runLoads(
      [{ label: 'request', url: `${server.url}/v1/verifications`, method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey }, connections, duration,
        requests: [{ setupRequest(req) { req.body = JSON.stringify({ identifier: brazilianMobile(next++) }); return req; } }] }],
      201,
    );
    expected = result.expected;
    print(`request: ${result.rps.toFixed(0)} req/s`);
    await collectSandboxCodes(server, apiKey, expected);
    return result;
  });
  print(await summarize(request.file, Number(values.top)));
  const check = await profiled('check', request.server.dataDir, async (server) => {
    const pairs = await collectSandboxCodes(server, apiKey, expected);
    let next = 0;
    const result = await runLoads(
      [{ label: 'check', url: `${server.url}/v1/verifications/check`, method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey }, connections, amount: pairs.length,
        requests: [{ setupRequest(req) { const { identifier, code } = pairs[next++]; req.body = JSON.stringify({ identifier, code }); return req; } }] }],
      200,
    );
    print(`check: ${result.rps.toFixed(0)} req/s, ${result.unexpected} unexpected`);
    return result;
  });
  print(await summarize(check.file, Number(values.top)));
} finally {
  await cleanup();
}
