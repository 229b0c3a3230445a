// Turning phase results into the table or the JSON line.

const round = (value, digits) => (value === null || value === undefined ? null : Number(value.toFixed(digits)));

/**
 * Adds ratio (rps / baseline rps), versusRatio (rps / the rps of the phase named in phase.versus,
 * null without one) and verdict ('PASS' | 'FAIL' | null when the phase has no floor) to each
 * { phase, result } (result is null for a phase that did not run). A phase with both floors passes
 * when it meets both.
 */
export function judge(rows) {
  const rpsOf = (name) => rows.find((row) => row.phase.name === name)?.result?.rps;
  const first = rpsOf('baseline');
  return rows.map((row) => {
    // The baseline slice run just before the phase (--baseline each), else the baseline phase.
    const baseline = row.baseline?.rps ?? first;
    const ratio = row.result && baseline ? row.result.rps / baseline : null;
    const other = row.phase.versus ? rpsOf(row.phase.versus.phase) : undefined;
    const versusRatio = row.result && other ? row.result.rps / other : null;
    const checks = [];
    if (row.phase.floor !== undefined) checks.push(ratio !== null && ratio >= row.phase.floor);
    if (row.phase.versus) checks.push(versusRatio !== null && versusRatio >= row.phase.versus.floor);
    const verdict = checks.length ? (checks.every(Boolean) ? 'PASS' : 'FAIL') : null;
    return { ...row, baselineRps: row.result && baseline ? baseline : null, ratio, versusRatio, verdict };
  });
}

/** What ran: "sqlite (embedded)" or "postgres + redis". */
export function describeStore(store) {
  return store === 'postgres' ? 'postgres + redis' : 'sqlite (embedded)';
}

/**
 * The one-line JSON: store, processes and worker (inline or process), then <phase>_rps, <phase>_p99_ms, <phase>_ratio (phases
 * with a floor against the baseline or another phase), <phase>_<other>_ratio (e.g. live_request_ratio)
 * and the phases' extra figures (`figures`: phase name -> { key: value }).
 */
export function toJson(judged, { store, processes, worker }, figures = {}) {
  const out = { store, processes, worker };
  for (const { phase, result } of judged) out[`${phase.name}_rps`] = round(result?.rps, 1);
  for (const { phase, result } of judged) out[`${phase.name}_p99_ms`] = round(result?.p99, 2);
  for (const { phase, ratio } of judged) if (phase.floor !== undefined || phase.versus) out[`${phase.name}_ratio`] = round(ratio, 3);
  for (const { phase, versusRatio } of judged) if (phase.versus) out[`${phase.name}_${phase.versus.phase}_ratio`] = round(versusRatio, 3);
  for (const { phase, baseline } of judged) if (baseline) out[`${phase.name}_baseline_rps`] = round(baseline.rps, 1);
  for (const { phase, stealPct } of judged) if (stealPct !== undefined) out[`${phase.name}_steal_pct`] = round(stealPct, 1);
  for (const extra of Object.values(figures)) Object.assign(out, extra);
  return JSON.stringify(out);
}

function table(header, lines) {
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i].length)));
  const format = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)].join('\n');
}

/** The human-readable report: table, floors, notes and problems; `details` (phase name -> lines) under each phase's line. */
export function toText(judged, { options, notes, problems, details = {} }) {
  const dash = '-';
  const percent = (value) => (value === null || value === undefined ? dash : value.toFixed(0));
  const lines = judged.map(({ phase, result, ratio, baselineRps, stealPct, baseline }) => {
    if (!result) return [phase.name, 'not run', dash, dash, dash, dash, dash, dash, dash, dash];
    return [
      phase.name,
      `${result.rps.toFixed(1)}${result.rpsMeasure === 'active' ? '*' : ''}`,
      String(result.p50), // autocannon's histogram is in whole milliseconds
      String(result.p99),
      ratio === null ? dash : ratio.toFixed(3),
      phase.name === 'baseline' || baselineRps === null ? dash : `${baselineRps.toFixed(1)}${baseline ? ` (${percent(baseline.stealPct)})` : ''}`,
      percent(stealPct),
      String(result.responses),
      String(result.non2xx),
      `${result.unexpected}/${result.errors}`,
    ];
  });
  const processes = `${options.processes} otpgate serve process${options.processes === 1 ? '' : 'es'}${options.worker === 'process' ? ' (--no-worker) + 1 otpgate worker' : ''}`;
  const out = [
    `otpgate benchmark: store ${describeStore(options.store)}, ${processes}, ${options.connections} connections, ${options.duration} s per duration-bounded phase, webhook: ${options.webhookEvents ? options.webhookEvents.join(', ') : 'none'}${options.groupCommit === null || options.groupCommit === undefined ? '' : `, Postgres group commit: ${options.groupCommit === 1 ? 'off' : `up to ${options.groupCommit}`}`}${options.httpThread === null || options.httpThread === undefined ? '' : `, outgoing HTTP on ${options.httpThread ? 'a thread' : 'the main thread'}`}${options.store === 'postgres' ? `, ${options.analyze ? 'database analyzed after the warm-up' : 'database not analyzed (plans of the fresh tables)'}` : ''}`,
    '',
    table(['phase', 'req/s', 'p50 ms', 'p99 ms', 'ratio', 'to baseline (steal %)', 'steal %', 'responses', 'non-2xx', 'unexpected/errors'], lines),
    '',
  ];
  out.push(
    judged.some(({ baseline }) => baseline)
      ? "ratio: to the baseline's load run again just before the phase (--baseline each); steal %: the machine's CPU time the hypervisor gave to others during the load (/proc/stat)"
      : "ratio: to the baseline phase (--baseline once); steal %: the machine's CPU time the hypervisor gave to others during the load (/proc/stat)",
    '',
  );
  if (judged.some(({ result }) => result?.rpsMeasure === 'active')) {
    out.push('* amount-bounded run: responses / seconds to the last response (autocannon\'s average counts its idle last second)', '');
  }
  if (judged.some(({ result }) => result?.parts.length > 1)) {
    out.push(`otpgate phases ran one autocannon per process at once (connections split): req/s is their sum, p50/p99 the max of theirs`, '');
  }
  for (const { phase, result } of judged) {
    if (!result) continue;
    const split = result.parts.length > 1 ? `; per process ${result.parts.map((part) => `${part.label} ${part.rps.toFixed(1)} req/s p99 ${part.p99} ms`).join(', ')}` : '';
    out.push(`${phase.name.padEnd(9)} ${phase.description}; ${result.responses} responses in ${result.seconds} s, statuses ${JSON.stringify(result.byStatus)}${split}`);
    for (const line of details[phase.name] ?? []) out.push(`${' '.repeat(10)}${line}`);
  }
  out.push('', 'floors (rps relative to the baseline (the slice before the phase with --baseline each), or to another phase, measured in this run):');
  const x = (value) => (value === null ? 'n/a' : `${value.toFixed(3)}x`);
  for (const { phase, ratio, versusRatio, verdict } of judged) {
    if (!verdict) continue;
    const floors = [];
    if (phase.floor !== undefined) floors.push(`>= ${phase.floor.toFixed(2)}x baseline  ${x(ratio)}`);
    if (phase.versus) floors.push(`${phase.name}/${phase.versus.phase} >= ${phase.versus.floor.toFixed(2)}x  ${x(versusRatio)}`);
    out.push(`  ${phase.name.padEnd(9)} ${floors.join(';  ')}  ${verdict}`);
  }
  if (notes.length) out.push('', 'notes:', ...notes.map((note) => `  ${note}`));
  if (problems.length) out.push('', 'NOT A VALID RESULT:', ...problems.map((problem) => `  ${problem}`));
  return `${out.join('\n')}\n`;
}
