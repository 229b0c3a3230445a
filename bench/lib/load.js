// One autocannon run, reduced to the figures the report needs.
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';

const KEPT_SAMPLES = 3;

/**
 * Runs autocannon with `options` and checks every response against `expect` (a status code).
 *
 * rps: autocannon's requests.average (mean of its 1 s samples) for a duration-bounded run. For an
 * `amount`-bounded run that figure is biased low: the last sample runs on to the next 1 s tick after
 * the final response, idle, so a 3 s run can lose a quarter of its rate. There rps is instead
 * completed responses / seconds from start to the last response.
 */
export async function runLoad(options, expect) {
  const samples = [];
  const requests = (options.requests ?? [{}]).map((request) => ({
    ...request,
    onResponse(status, body, context, headers) {
      if (status !== expect && samples.length < KEPT_SAMPLES) samples.push({ status, body: String(body).slice(0, 300) });
      request.onResponse?.(status, body, context, headers);
    },
  }));
  const startedAt = performance.now();
  let lastResponseAt = startedAt;
  const instance = autocannon({ ...options, requests });
  instance.on('response', () => {
    lastResponseAt = performance.now();
  });
  const result = await instance;

  const byStatus = Object.fromEntries(Object.entries(result.statusCodeStats).map(([status, { count }]) => [status, count]));
  const responses = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const expected = byStatus[expect] ?? 0;
  const unexpected = responses - expected;
  const activeSeconds = (lastResponseAt - startedAt) / 1000;
  const activeRps = activeSeconds > 0 ? responses / activeSeconds : 0;
  return {
    rps: options.amount ? activeRps : result.requests.average,
    rpsMeasure: options.amount ? 'active' : 'average',
    averageRps: result.requests.average,
    activeRps,
    p50: result.latency.p50,
    p99: result.latency.p99,
    seconds: result.duration,
    responses,
    expected,
    unexpected,
    non2xx: result.non2xx,
    errors: result.errors, // connection errors, timeouts included
    timeouts: result.timeouts,
    byStatus,
    samples,
    // Share of attempts that did not get the expected status (other status, error or timeout).
    failedRatio: (unexpected + result.errors) / Math.max(1, responses + result.errors),
  };
}
