// autocannon runs (one, or one per otpgate process at once), reduced to the figures the report needs.
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';

const KEPT_SAMPLES = 3;

/**
 * Runs autocannon with `options` and checks every response against `expect` (a status code).
 * `options.label` (not autocannon's) names the target in the merged result of runLoads.
 *
 * rps: autocannon's requests.average (mean of its 1 s samples) for a duration-bounded run. For an
 * `amount`-bounded run that figure is biased low: the last sample runs on to the next 1 s tick after
 * the final response, idle, so a 3 s run can lose a quarter of its rate. There rps is instead
 * completed responses / seconds from start to the last response.
 */
export async function runLoad({ label, ...options }, expect) {
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
    label,
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
    startedAt,
    lastResponseAt,
    // Share of attempts that did not get the expected status (other status, error or timeout).
    failedRatio: (unexpected + result.errors) / Math.max(1, responses + result.errors),
  };
}

/**
 * Runs one autocannon per entry of `optionsList` at the same time (e.g. one per otpgate process)
 * and merges them as one result: rps is the sum of the runs' (for amount-bounded runs: all
 * responses / seconds from the first start to the last response), p50 and p99 the max of theirs,
 * counts added up; `parts` keeps each run's own label, rps, p99 and responses. A single run is returned
 * as it is, with `parts` of one.
 */
export async function runLoads(optionsList, expect) {
  const results = await Promise.all(optionsList.map((options) => runLoad(options, expect)));
  const parts = results.map(({ label, rps, p99, responses }) => ({ label, rps, p99, responses }));
  if (results.length === 1) return { ...results[0], parts };

  const sum = (pick) => results.reduce((total, result) => total + pick(result), 0);
  const max = (pick) => Math.max(...results.map(pick));
  const byStatus = {};
  for (const result of results) {
    for (const [status, count] of Object.entries(result.byStatus)) byStatus[status] = (byStatus[status] ?? 0) + count;
  }
  const startedAt = Math.min(...results.map((result) => result.startedAt));
  const lastResponseAt = max((result) => result.lastResponseAt);
  const activeSeconds = (lastResponseAt - startedAt) / 1000;
  const responses = sum((result) => result.responses);
  const unexpected = sum((result) => result.unexpected);
  const errors = sum((result) => result.errors);
  const amountBounded = results[0].rpsMeasure === 'active';
  const activeRps = activeSeconds > 0 ? responses / activeSeconds : 0;
  const averageRps = sum((result) => result.averageRps);
  return {
    label: results.map((result) => result.label).join(' + '),
    rps: amountBounded ? activeRps : averageRps,
    rpsMeasure: results[0].rpsMeasure,
    averageRps,
    activeRps,
    p50: max((result) => result.p50),
    p99: max((result) => result.p99),
    seconds: max((result) => result.seconds),
    responses,
    expected: sum((result) => result.expected),
    unexpected,
    non2xx: sum((result) => result.non2xx),
    errors,
    timeouts: sum((result) => result.timeouts),
    byStatus,
    // A few per run, each saying which run (its label) it came from.
    samples: results.flatMap((result) => result.samples.map((sample) => ({ ...sample, label: result.label }))),
    startedAt,
    lastResponseAt,
    failedRatio: (unexpected + errors) / Math.max(1, responses + errors),
    parts,
  };
}
