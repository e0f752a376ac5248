import { formatDuration, parseDuration } from '../../src/api/duration';

describe('parseDuration (Go time.ParseDuration)', () => {
  it.each([
    ['40s', 40_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['0', 0],
    ['0s', 0],
    ['-5s', -5000],
    ['+2m', 120_000],
    ['.5s', 500],
    ['1h2m3s4ms', 3_723_004],
    ['1500us', 1.5],
    ['2000000ns', 2],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 6);
  });

  it.each([[''], ['40'], ['s'], ['1x'], ['1.s.'], ['--1s'], ['1 s'], ['.s']])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/time: (invalid duration|unknown unit)/);
  });

  it('names an unknown unit as Go does', () => {
    expect(() => parseDuration('3d')).toThrow('time: unknown unit "d" in duration "3d"');
  });
});

describe('formatDuration (Go Duration.String)', () => {
  it.each([
    [40_000, '40s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
    [0, '0s'],
    [500, '500ms'],
    [1500, '1.5s'],
    [-5000, '-5s'],
    [0.5, '500µs'],
  ])('%d ms = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips', () => {
    for (const t of ['40s', '1m30s', '2h3m4s', '250ms']) expect(formatDuration(parseDuration(t))).toBe(t === '2h3m4s' ? '2h3m4s' : t);
  });
});
