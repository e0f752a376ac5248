/**
 * Kubernetes resource quantities (apimachinery `resource.Quantity`): `500m`,
 * `1.5`, `128Mi`, `2Gi`, `1e3`, `12E6`.
 *
 * A quantity is parsed exactly, as a decimal mantissa times a power of ten
 * and a power of two, and only then turned into a JavaScript number, so the
 * integer views (`quantityValue`, `quantityMilliValue`) round the way
 * Kubernetes does: `0.1` CPU is exactly 100 millicores, never 101.
 *
 * Every error is an `Error` whose message is apimachinery's, since clients
 * and validation show it verbatim.
 */

const SPLIT_RE = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';
const ERR_FORMAT = `quantities must match the regular expression '${SPLIT_RE}'`;
const ERR_NUMERIC = 'unable to parse numeric part of quantity';
const ERR_SUFFIX = "unable to parse quantity's suffix";

const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

const SUFFIX_CHARS = 'eEinumkKMGTP';

/** A parsed quantity: `(negative ? -1 : 1) * digits * 10^exp10 * 2^exp2`, exactly. */
interface ExactQuantity {
  negative: boolean;
  /** The digits of the number with the decimal point removed, leading zeros stripped. */
  digits: string;
  exp10: number;
  exp2: number;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

/**
 * apimachinery's `parseQuantityString` + suffix interpretation: the same
 * scanner, so the same strings are accepted and rejected for the same reason
 * (but see the no-digits case below).
 */
function parseExact(str: string): ExactQuantity {
  if (str.length === 0) throw new Error(ERR_FORMAT);
  const end = str.length;
  let pos = 0;
  let negative = false;
  if (str[0] === '-' || str[0] === '+') {
    negative = str[0] === '-';
    pos++;
  }
  let start = pos;
  while (pos < end && str[pos] === '0') pos++;
  const leadingZeros = pos > start;
  if (pos >= end) return { negative, digits: '0', exp10: 0, exp2: 0 };

  start = pos;
  while (pos < end && isDigit(str[pos])) pos++;
  const num = str.slice(start, pos);
  let denom = '';
  if (pos < end && str[pos] === '.') {
    start = ++pos;
    while (pos < end && isDigit(str[pos])) pos++;
    // Like Kubernetes, a bare point is allowed: "1.", ".5", even "1.G".
    denom = str.slice(start, pos);
  }
  const suffixStart = pos;
  while (pos < end && SUFFIX_CHARS.includes(str[pos])) pos++;
  if (pos < end && (str[pos] === '-' || str[pos] === '+')) pos++;
  while (pos < end && isDigit(str[pos])) pos++;
  if (pos < end) throw new Error(ERR_FORMAT);
  const suffix = str.slice(suffixStart);

  let exp10 = 0;
  let exp2 = 0;
  if (Object.prototype.hasOwnProperty.call(DECIMAL_SUFFIXES, suffix)) exp10 = DECIMAL_SUFFIXES[suffix];
  else if (Object.prototype.hasOwnProperty.call(BINARY_SUFFIXES, suffix)) exp2 = BINARY_SUFFIXES[suffix];
  else if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?[0-9]+$/.test(suffix.slice(1))) {
    exp10 = Number(suffix.slice(1));
  } else {
    throw new Error(ERR_SUFFIX);
  }

  // A suffix with no number ("Mi", "."): Kubernetes releases differ (recent
  // ones read it as 0); rejecting it is what the documented regex says.
  if (num === '' && denom === '' && !leadingZeros) throw new Error(ERR_NUMERIC);
  const digits = (num + denom).replace(/^0+/, '') || '0';
  return { negative, digits, exp10: exp10 - denom.length, exp2 };
}

function toExact(q: string | number): ExactQuantity {
  if (typeof q === 'number') {
    // JSON allows a bare number where a quantity goes (`cpu: 2`); Kubernetes
    // parses its text, which for finite numbers is what String() gives.
    return parseExact(Number.isFinite(q) ? String(q) : '');
  }
  return parseExact(q);
}

/**
 * `ceil(|q| * 10^scale)` with q's sign, i.e. rounded away from zero, as
 * Quantity's `ScaledValue` does for the int64 amounts requests always are.
 */
function scaledCeil(q: ExactQuantity, scale: number): number {
  if (q.digits === '0') return 0;
  const e = q.exp10 + scale;
  const sign = q.negative ? -1 : 1;
  // Exponents can be written as large as anyone likes ("1e999999"); bound
  // the exact arithmetic, since past these the answer is known anyway.
  const magnitude = q.digits.length + e;
  if (magnitude > 400) return sign * Infinity;
  if (magnitude < -400) return sign;
  // Fast path: a whole number small enough that double arithmetic is exact.
  if (e >= 0 && q.digits.length <= 15 && e <= 15 && q.exp2 <= 60) {
    const v = Number(q.digits) * 10 ** e * 2 ** q.exp2;
    if (Number.isSafeInteger(v)) return sign * v;
  }
  let n = BigInt(q.digits) << BigInt(q.exp2);
  if (e >= 0) return sign * Number(n * 10n ** BigInt(e));
  const d = 10n ** BigInt(-e);
  const whole = n / d;
  n = n % d === 0n ? whole : whole + 1n;
  return sign * Number(n);
}

/**
 * Parses a quantity into its value in base units (bytes, cores, counts),
 * fractional where the quantity is (`parseQuantity('250m') === 0.25`).
 *
 * @throws Error with apimachinery's message: `quantities must match the
 *   regular expression '...'` for malformed input, `unable to parse
 *   quantity's suffix` for an unknown suffix such as `1K` or `1Ki3`.
 */
export function parseQuantity(q: string | number): number {
  const x = toExact(q);
  if (x.digits === '0') return 0;
  const v = Number(`${x.digits}e${x.exp10}`) * 2 ** x.exp2;
  return x.negative ? -v : v;
}

/** Quantity's `Value()`: the value in base units as an integer, rounded up (`1.5` → 2, `100m` → 1). */
export function quantityValue(q: string | number): number {
  return scaledCeil(toExact(q), 0);
}

/** Quantity's `MilliValue()`: the value in thousandths, rounded up (`0.1` → 100, `1n` → 1). */
export function quantityMilliValue(q: string | number): number {
  return scaledCeil(toExact(q), 3);
}

/** A CPU quantity in millicores, as the scheduler and kubelet count CPU. */
export const parseCPU = quantityMilliValue;

/** A memory (or storage) quantity in whole bytes. */
export const parseMemory = quantityValue;
