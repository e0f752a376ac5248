import { CronSyntaxError, isValidTimeZone, parseSchedule } from '../../src/controllers/cron';

const next = (spec: string, after: string, tz?: string) => parseSchedule(spec, tz).next(new Date(after))?.toISOString();

/** The first `n` run times after `after`. */
function runs(spec: string, after: string, n: number, tz?: string): string[] {
  const s = parseSchedule(spec, tz);
  const out: string[] = [];
  let t = new Date(after);
  for (let i = 0; i < n; i++) {
    t = s.next(t)!;
    out.push(t.toISOString());
  }
  return out;
}

describe('cron schedules', () => {
  it('every minute, strictly after the given time', () => {
    expect(next('* * * * *', '2024-01-01T00:00:00Z')).toBe('2024-01-01T00:01:00.000Z');
    expect(next('* * * * *', '2024-01-01T00:00:59.999Z')).toBe('2024-01-01T00:01:00.000Z');
  });

  it('lists, ranges and steps', () => {
    expect(runs('0,30 * * * *', '2024-01-01T00:00:00Z', 3)).toEqual(['2024-01-01T00:30:00.000Z', '2024-01-01T01:00:00.000Z', '2024-01-01T01:30:00.000Z']);
    expect(runs('*/15 * * * *', '2024-01-01T00:00:00Z', 2)).toEqual(['2024-01-01T00:15:00.000Z', '2024-01-01T00:30:00.000Z']);
    expect(runs('10-20/5 3 * * *', '2024-01-01T00:00:00Z', 4)).toEqual([
      '2024-01-01T03:10:00.000Z', '2024-01-01T03:15:00.000Z', '2024-01-01T03:20:00.000Z', '2024-01-02T03:10:00.000Z',
    ]);
    expect(runs('50/5 * * * *', '2024-01-01T00:00:00Z', 3)).toEqual(['2024-01-01T00:50:00.000Z', '2024-01-01T00:55:00.000Z', '2024-01-01T01:50:00.000Z']);
  });

  it('month and weekday names, weekday 7 as Sunday', () => {
    // 2024-01-01 is a Monday.
    expect(next('0 9 * * mon-fri', '2024-01-05T10:00:00Z')).toBe('2024-01-08T09:00:00.000Z');
    expect(next('0 0 1 FEB *', '2024-01-15T00:00:00Z')).toBe('2024-02-01T00:00:00.000Z');
    expect(next('0 0 * * 7', '2024-01-01T00:00:00Z')).toBe('2024-01-07T00:00:00.000Z');
    expect(next('0 0 * * sun', '2024-01-01T00:00:00Z')).toBe('2024-01-07T00:00:00.000Z');
  });

  it('day of month OR day of week when both are restricted, AND when one is *', () => {
    // The 13th, or any Friday.
    expect(runs('0 0 13 * fri', '2024-01-01T00:00:00Z', 3)).toEqual(['2024-01-05T00:00:00.000Z', '2024-01-12T00:00:00.000Z', '2024-01-13T00:00:00.000Z']);
    expect(next('0 0 13 * *', '2024-01-01T00:00:00Z')).toBe('2024-01-13T00:00:00.000Z');
    expect(next('0 0 ? * fri', '2024-01-01T00:00:00Z')).toBe('2024-01-05T00:00:00.000Z');
  });

  it('descriptors', () => {
    expect(next('@hourly', '2024-01-01T00:30:00Z')).toBe('2024-01-01T01:00:00.000Z');
    expect(next('@daily', '2024-01-01T00:30:00Z')).toBe('2024-01-02T00:00:00.000Z');
    expect(next('@midnight', '2024-01-01T00:30:00Z')).toBe('2024-01-02T00:00:00.000Z');
    expect(next('@weekly', '2024-01-01T00:30:00Z')).toBe('2024-01-07T00:00:00.000Z');
    expect(next('@monthly', '2024-01-01T00:30:00Z')).toBe('2024-02-01T00:00:00.000Z');
    expect(next('@yearly', '2024-01-01T00:30:00Z')).toBe('2025-01-01T00:00:00.000Z');
    expect(next('@annually', '2024-01-01T00:30:00Z')).toBe('2025-01-01T00:00:00.000Z');
  });

  it('leap days, and schedules that never fire', () => {
    expect(next('0 0 29 2 *', '2024-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(next('0 0 30 2 *', '2024-01-01T00:00:00Z')).toBeUndefined();
  });

  it('reads the schedule in a time zone, across DST changes', () => {
    // 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    expect(next('0 9 * * *', '2024-01-10T12:00:00Z', 'Europe/Paris')).toBe('2024-01-11T08:00:00.000Z');
    expect(next('0 9 * * *', '2024-07-10T12:00:00Z', 'Europe/Paris')).toBe('2024-07-11T07:00:00.000Z');
    // 02:30 does not exist in Paris on 2024-03-31 (clocks jump 02:00 -> 03:00): that day is skipped.
    expect(next('30 2 * * *', '2024-03-30T12:00:00Z', 'Europe/Paris')).toBe('2024-04-01T00:30:00.000Z');
    // New York in January: UTC-5.
    expect(next('0 0 * * *', '2024-01-10T12:00:00Z', 'America/New_York')).toBe('2024-01-11T05:00:00.000Z');
  });

  it.each([
    ['', 'empty spec string'],
    ['* * * *', 'expected exactly 5 fields'],
    ['* * * * * *', 'expected exactly 5 fields'],
    ['60 * * * *', 'out of range'],
    ['* 24 * * *', 'out of range'],
    ['* * 0 * *', 'out of range'],
    ['* * * 13 *', 'out of range'],
    ['* * * * 8', 'out of range'],
    ['5-1 * * * *', 'beyond end of range'],
    ['*/0 * * * *', 'step'],
    ['foo * * * *', 'failed to parse'],
    ['? * * * *', 'failed to parse'],
    ['@every 5m', 'unrecognized descriptor'],
    ['TZ=UTC * * * * *', 'not supported'],
    ['1,,2 * * * *', 'empty'],
  ])('rejects %j', (spec, message) => {
    expect(() => parseSchedule(spec)).toThrow(CronSyntaxError);
    expect(() => parseSchedule(spec)).toThrow(message);
  });

  it('finds the most recent run in (after, now] without walking every missed one', () => {
    const s = parseSchedule('* * * * *');
    expect(s.mostRecent(new Date('2020-01-01T00:00:00Z'), new Date('2024-06-01T12:34:56Z'))?.toISOString()).toBe('2024-06-01T12:34:00.000Z');
    expect(s.mostRecent(new Date('2024-06-01T12:34:00Z'), new Date('2024-06-01T12:34:56Z'))).toBeUndefined();
    const yearly = parseSchedule('@yearly');
    expect(yearly.mostRecent(new Date('2020-06-01T00:00:00Z'), new Date('2024-06-01T00:00:00Z'))?.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(yearly.mostRecent(new Date('2024-02-01T00:00:00Z'), new Date('2024-06-01T00:00:00Z'))).toBeUndefined();
    const t0 = Date.now();
    parseSchedule('*/1 * * * *').mostRecent(new Date('2000-01-01T00:00:00Z'), new Date('2024-06-01T00:00:00Z'));
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('knows time zones', () => {
    expect(isValidTimeZone('Europe/Paris')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('Local')).toBe(false);
    expect(() => parseSchedule('* * * * *', 'Mars/Olympus')).toThrow('unknown time zone');
  });
});
