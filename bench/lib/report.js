// Turning phase results into the table or the JSON line.

const round = (value, digits) => (value === null || value === undefined ? null : Number(value.toFixed(digits)));

/**
 * Adds ratio (rps / baseline rps) and verdict ('PASS' | 'FAIL' | null when the phase has no floor)
 * to each { phase, result } (result is null for a phase that did not run).
 */
export function judge(rows) {
  const baseline = rows.find((row) => row.phase.name === 'baseline')?.result;
  return rows.map((row) => {
    const ratio = row.result && baseline?.rps ? row.result.rps / baseline.rps : null;
    let verdict = null;
    if (row.phase.floor !== undefined) verdict = ratio !== null && ratio >= row.phase.floor ? 'PASS' : 'FAIL';
    return { ...row, ratio, verdict };
  });
}

/** What ran: "sqlite (embedded)" or "postgres + redis". */
export function describeStore(store) {
  return store === 'postgres' ? 'postgres + redis' : 'sqlite (embedded)';
}

/**
 * The one-line JSON: store and processes, then <phase>_rps, <phase>_p99_ms and <phase>_ratio
 * (phases with a floor).
 */
export function toJson(judged, { store, processes }) {
  const figures = { store, processes };
  for (const { phase, result } of judged) figures[`${phase.name}_rps`] = round(result?.rps, 1);
  for (const { phase, result } of judged) figures[`${phase.name}_p99_ms`] = round(result?.p99, 2);
  for (const { phase, ratio } of judged) if (phase.floor !== undefined) figures[`${phase.name}_ratio`] = round(ratio, 3);
  return JSON.stringify(figures);
}

function table(header, lines) {
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i].length)));
  const format = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)].join('\n');
}

/** The human-readable report: table, floors, notes and problems. */
export function toText(judged, { options, notes, problems }) {
  const dash = '-';
  const lines = judged.map(({ phase, result, ratio }) => {
    if (!result) return [phase.name, 'not run', dash, dash, dash, dash, dash, dash];
    return [
      phase.name,
      `${result.rps.toFixed(1)}${result.rpsMeasure === 'active' ? '*' : ''}`,
      String(result.p50), // autocannon's histogram is in whole milliseconds
      String(result.p99),
      ratio === null ? dash : ratio.toFixed(3),
      String(result.responses),
      String(result.non2xx),
      `${result.unexpected}/${result.errors}`,
    ];
  });
  const processes = `${options.processes} otpgate process${options.processes === 1 ? '' : 'es'}`;
  const out = [
    `otpgate benchmark: store ${describeStore(options.store)}, ${processes}, ${options.connections} connections, ${options.duration} s per duration-bounded phase`,
    '',
    table(['phase', 'req/s', 'p50 ms', 'p99 ms', 'ratio', 'responses', 'non-2xx', 'unexpected/errors'], lines),
    '',
  ];
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
  }
  out.push('', 'floors (rps relative to the baseline measured in this run):');
  for (const { phase, ratio, verdict } of judged) {
    if (verdict) out.push(`  ${phase.name.padEnd(9)} >= ${phase.floor.toFixed(2)}x  ${ratio === null ? 'n/a' : `${ratio.toFixed(3)}x`}  ${verdict}`);
  }
  if (notes.length) out.push('', 'notes:', ...notes.map((note) => `  ${note}`));
  if (problems.length) out.push('', 'NOT A VALID RESULT:', ...problems.map((problem) => `  ${problem}`));
  return `${out.join('\n')}\n`;
}
