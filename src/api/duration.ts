/**
 * Durations as Kubernetes writes them in flags and fields: Go's
 * time.ParseDuration syntax (`40s`, `1m30s`, `1.5h`, `300ms`, `0`), a
 * sequence of decimal numbers each with a unit (ns, us, µs, ms, s, m, h),
 * optionally signed. Values are milliseconds (fractional below 1 ms).
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration into milliseconds; throws an Error with Go's message on bad input. */
export function parseDuration(text: string): number {
  const orig = text;
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (!s) throw new Error(`time: invalid duration "${orig}"`);
  let total = 0;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]+)/;
  while (s) {
    const m = part.exec(s);
    if (!m || (!m[1] && !m[2])) throw new Error(`time: invalid duration "${orig}"`);
    const unit = UNIT_MS[m[3]];
    if (unit === undefined) {
      throw new Error(/^[a-zµμ]+$/i.test(m[3]) ? `time: unknown unit "${m[3]}" in duration "${orig}"` : `time: invalid duration "${orig}"`);
    }
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * unit;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** Formats milliseconds as Go's Duration.String() does: `40s`, `1m30s`, `1h0m0s`, `500ms`, `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) {
    // Below a second Go picks the largest unit that keeps an integer part.
    if (rest >= 1) return `${sign}${trim(rest)}ms`;
    if (rest >= 1e-3) return `${sign}${trim(rest * 1e3)}µs`;
    return `${sign}${trim(rest * 1e6)}ns`;
  }
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = `${trim(rest / 1000)}s`;
  if (h) return `${sign}${h}h${m}m${s}`;
  if (m) return `${sign}${m}m${s}`;
  return `${sign}${s}`;
}

function trim(n: number): string {
  // Nine significant fractional digits at most, as Go keeps nanoseconds.
  return String(Number(n.toFixed(9)));
}
