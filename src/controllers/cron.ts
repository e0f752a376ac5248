/**
 * Standard cron schedules, as the CronJob controller reads them (robfig/cron
 * v3's ParseStandard): five fields `minute hour day-of-month month
 * day-of-week`, each `*`, `?` (day fields), a value, a range `a-b`, a step
 * `*\/n` or `a-b/n` or `a/n`, or a comma list of those; month and weekday
 * names (`jan`, `mon`, case-insensitive); weekday 7 is Sunday too; and the
 * descriptors `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
 * (`@midnight`), `@hourly`.
 *
 * As in cron, when both day-of-month and day-of-week are restricted (neither
 * is `*` or `?`) a day matches if either does; otherwise both must.
 *
 * Times are read in `timeZone` (an IANA name) when given, else UTC, which is
 * what mk's controller manager runs in.
 */

export class CronSyntaxError extends Error {}

interface Field {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const FIELDS: Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: Object.fromEntries(MONTHS.map((m, i) => [m, i + 1])) },
  { min: 0, max: 7, names: Object.fromEntries(DAYS.map((d, i) => [d, i])) },
];
const FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'];

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MINUTE = 60_000;
const RECENT_WINDOWS_MS = [3_600_000, 86_400_000, 32 * 86_400_000, 367 * 86_400_000, Infinity];
/** Searching further than this without a match means the schedule never fires (e.g. `0 0 30 2 *`). */
const SEARCH_YEARS = 5;

function parseValue(text: string, f: Field, fieldName: string): number {
  const lower = text.toLowerCase();
  const v = f.names && lower in f.names ? f.names[lower] : /^\d+$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(v)) throw new CronSyntaxError(`failed to parse ${fieldName} value ${JSON.stringify(text)}`);
  if (v < f.min || v > f.max) throw new CronSyntaxError(`${fieldName} value ${v} out of range [${f.min}, ${f.max}]`);
  return v;
}

/** The set of values one field allows, and whether it was unrestricted (`*` or `?`). */
function parseField(text: string, index: number): { values: Set<number>; star: boolean } {
  const f = FIELDS[index];
  const name = FIELD_NAMES[index];
  const values = new Set<number>();
  let star = false;
  for (const part of text.split(',')) {
    if (part === '') throw new CronSyntaxError(`empty ${name} list element in ${JSON.stringify(text)}`);
    const [range, stepText, ...extra] = part.split('/');
    if (extra.length) throw new CronSyntaxError(`too many slashes in ${JSON.stringify(part)}`);
    let lo: number;
    let hi: number;
    if (range === '*' || (range === '?' && (index === 2 || index === 4))) {
      lo = f.min;
      hi = index === 4 ? 6 : f.max;
      if (stepText === undefined) star = true;
    } else {
      const bounds = range.split('-');
      if (bounds.length > 2) throw new CronSyntaxError(`failed to parse ${name} range ${JSON.stringify(range)}`);
      lo = parseValue(bounds[0], f, name);
      // `a/n` means a through the maximum, every n.
      hi = bounds.length === 2 ? parseValue(bounds[1], f, name) : stepText !== undefined ? f.max : lo;
      if (lo > hi) throw new CronSyntaxError(`beginning of ${name} range (${lo}) beyond end of range (${hi})`);
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronSyntaxError(`failed to parse ${name} step ${JSON.stringify(stepText)}`);
      step = Number(stepText);
    }
    for (let v = lo; v <= hi; v += step) values.add(index === 4 && v === 7 ? 0 : v);
  }
  return { values, star };
}

export class CronSchedule {
  private constructor(
    readonly text: string,
    private readonly minutes: Set<number>,
    private readonly hours: Set<number>,
    private readonly doms: Set<number>,
    private readonly months: Set<number>,
    private readonly dows: Set<number>,
    private readonly domStar: boolean,
    private readonly dowStar: boolean,
    readonly timeZone?: string,
  ) {}

  /** @throws CronSyntaxError when `text` or `timeZone` is not valid. */
  static parse(text: string, timeZone?: string): CronSchedule {
    const trimmed = text.trim();
    if (trimmed === '') throw new CronSyntaxError('empty spec string');
    if (/^(CRON_)?TZ=/.test(trimmed)) throw new CronSyntaxError('TZ and CRON_TZ are not supported in the schedule; use spec.timeZone');
    let spec = trimmed;
    if (spec.startsWith('@')) {
      const expanded = DESCRIPTORS[spec.toLowerCase()];
      if (!expanded) throw new CronSyntaxError(`unrecognized descriptor: ${spec}`);
      spec = expanded;
    }
    const parts = spec.split(/\s+/);
    if (parts.length !== 5) throw new CronSyntaxError(`expected exactly 5 fields, found ${parts.length}: ${JSON.stringify(trimmed)}`);
    if (timeZone !== undefined && !isValidTimeZone(timeZone)) throw new CronSyntaxError(`unknown time zone ${timeZone}`);
    const [mi, h, dom, mo, dow] = parts.map((p, i) => parseField(p, i));
    return new CronSchedule(trimmed, mi.values, h.values, dom.values, mo.values, dow.values, dom.star, dow.star, timeZone || undefined);
  }

  /** The first scheduled time strictly after `after`, or undefined when there is none within years. */
  next(after: Date): Date | undefined {
    if (!this.timeZone || this.timeZone === 'UTC' || this.timeZone === 'Etc/UTC') {
      const t = this.nextWall(after.getTime());
      return t === undefined ? undefined : new Date(t);
    }
    // Search in wall-clock time, then map back to an instant; a wall time a
    // DST jump skips does not exist and is passed over, as is one that maps
    // to an instant not after `after` (the repeated hour when clocks go back).
    let wall = after.getTime() + offsetMs(this.timeZone, after.getTime());
    for (let i = 0; i < 1000; i++) {
      const w = this.nextWall(wall);
      if (w === undefined) return undefined;
      const instant = wallToInstant(this.timeZone, w);
      if (instant !== undefined && instant > after.getTime()) return new Date(instant);
      wall = w;
    }
    return undefined;
  }

  /**
   * The latest scheduled time in (after, now], or undefined. Walks the
   * smallest recent window holding a run rather than every run since
   * `after`, so a long-missed every-minute schedule costs at most ~60 steps.
   */
  mostRecent(after: Date, now: Date): Date | undefined {
    for (const windowMs of RECENT_WINDOWS_MS) {
      const from = Math.max(after.getTime(), now.getTime() - windowMs);
      let found: Date | undefined;
      for (let t = this.next(new Date(from)); t && t.getTime() <= now.getTime(); t = this.next(t)) found = t;
      if (found || from === after.getTime()) return found;
    }
    return undefined;
  }

  private dayMatches(d: Date): boolean {
    const dom = this.doms.has(d.getUTCDate());
    const dow = this.dows.has(d.getUTCDay());
    return this.domStar || this.dowStar ? dom && dow : dom || dow;
  }

  /** The next matching minute after `afterMs`, reading a timestamp's UTC fields as the wall clock. */
  private nextWall(afterMs: number): number | undefined {
    const d = new Date(Math.floor(afterMs / MINUTE) * MINUTE + MINUTE);
    const limit = d.getUTCFullYear() + SEARCH_YEARS;
    while (d.getUTCFullYear() <= limit) {
      if (!this.months.has(d.getUTCMonth() + 1)) {
        d.setUTCMonth(d.getUTCMonth() + 1, 1);
        d.setUTCHours(0, 0, 0, 0);
      } else if (!this.dayMatches(d)) {
        d.setUTCDate(d.getUTCDate() + 1);
        d.setUTCHours(0, 0, 0, 0);
      } else if (!this.hours.has(d.getUTCHours())) {
        d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
      } else if (!this.minutes.has(d.getUTCMinutes())) {
        d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
      } else {
        return d.getTime();
      }
    }
    return undefined;
  }
}

/** Parses a schedule; see CronSchedule. @throws CronSyntaxError */
export function parseSchedule(text: string, timeZone?: string): CronSchedule {
  return CronSchedule.parse(text, timeZone);
}

export function isValidTimeZone(tz: string): boolean {
  if (tz === '' || tz.toLowerCase() === 'local') return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** How far `tz`'s wall clock is ahead of UTC at `instant`. */
function offsetMs(tz: string, instant: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(instant))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(instant / 1000) * 1000;
}

/** The instant whose wall clock in `tz` reads `wall`, or undefined when DST skips it. */
function wallToInstant(tz: string, wall: number): number | undefined {
  const first = wall - offsetMs(tz, wall);
  const candidates = [first, wall - offsetMs(tz, first)].sort((a, b) => a - b);
  for (const c of candidates) if (c + offsetMs(tz, c) === wall) return c;
  return undefined;
}
