import { parseCPU, parseMemory, parseQuantity, quantityMilliValue, quantityValue } from '../../src/api/quantity';

const FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const SUFFIX = "unable to parse quantity's suffix";
const NUMERIC = 'unable to parse numeric part of quantity';

describe('parseQuantity', () => {
  it.each<[string | number, number]>([
    ['0', 0],
    ['1', 1],
    ['-1', -1],
    ['+1', 1],
    ['007', 7],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['1.', 1],
    ['250m', 0.25],
    ['100u', 0.0001],
    ['5n', 5e-9],
    ['1k', 1000],
    ['1M', 1e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['1Ki', 1024],
    ['1Mi', 1024 ** 2],
    ['128Mi', 128 * 1024 ** 2],
    ['1Gi', 1024 ** 3],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['1Ti', 1024 ** 4],
    ['1Pi', 1024 ** 5],
    ['1Ei', 1024 ** 6],
    ['1e3', 1000],
    ['12E6', 12e6],
    ['1e-3', 0.001],
    ['1E+2', 100],
    ['1.G', 1e9],
    ['-', 0],
    ['000', 0],
    [2, 2],
    [0.5, 0.5],
    [1e21, 1e21],
  ])('%j → %d', (q, value) => {
    expect(parseQuantity(q)).toBeCloseTo(value, 12);
  });

  it.each<[string | number, string]>([
    ['', FORMAT],
    ['aoeu', FORMAT],
    ['1.1.M', FORMAT],
    ['1+1.0M', FORMAT],
    ['0.1am', FORMAT],
    [' 1', FORMAT],
    ['1 ', FORMAT],
    ['1e3k', FORMAT],
    ['0x10', FORMAT],
    ['1KiB', FORMAT],
    [Number.NaN, FORMAT],
    [Number.POSITIVE_INFINITY, FORMAT],
    ['0.1mi', SUFFIX],
    ['1K', SUFFIX],
    ['1Ki3', SUFFIX],
    ['.5i', SUFFIX],
    ['1i', SUFFIX],
    ['-3.01i', SUFFIX],
    ['-3.01e-', SUFFIX],
    ['1e', SUFFIX],
    ['Mi', NUMERIC],
    ['.', NUMERIC],
  ])('%j is rejected: %s', (q, message) => {
    expect(() => parseQuantity(q)).toThrow(new Error(message));
  });
});

describe('quantityValue (Value, rounded up to whole units)', () => {
  it.each<[string | number, number]>([
    ['1', 1],
    ['1.5', 2],
    ['100m', 1],
    ['1n', 1],
    ['-1.5', -2],
    ['0', 0],
    ['1Gi', 1073741824],
    ['0.5Gi', 536870912],
    ['1.1Ki', 1127], // 1126.4 rounds up
    ['128974848', 128974848],
    ['129e6', 129000000],
    ['123Mi', 128974848],
    ['1e-400', 1],
    ['1e400', Infinity],
    ['9007199254740993', 9007199254740992], // beyond 2^53 only approximately
  ])('%j → %d', (q, value) => {
    expect(quantityValue(q)).toBe(value);
  });
});

describe('quantityMilliValue (MilliValue, rounded up to thousandths)', () => {
  it.each<[string | number, number]>([
    ['1', 1000],
    ['0.1', 100], // exact: never 101
    ['0.3', 300],
    ['1.001', 1001],
    ['0.0001', 1],
    ['100m', 100],
    ['1500m', 1500],
    ['1n', 1],
    ['2.5k', 2500000],
    ['32', 32000],
    [0.1, 100],
    ['1e-3', 1],
    ['-0.5', -500],
  ])('%j → %d', (q, value) => {
    expect(quantityMilliValue(q)).toBe(value);
  });
});

describe('parseCPU / parseMemory', () => {
  it('read CPU in millicores and memory in bytes', () => {
    expect(parseCPU('250m')).toBe(250);
    expect(parseCPU('2')).toBe(2000);
    expect(parseCPU(4)).toBe(4000);
    expect(parseMemory('128Gi')).toBe(128 * 2 ** 30);
    expect(parseMemory('1G')).toBe(1e9);
    expect(parseMemory('200Mi')).toBe(209715200);
  });
});
