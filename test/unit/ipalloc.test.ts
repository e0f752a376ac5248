import {
  AllocationError,
  ClusterIPAllocator,
  clusterDnsIP,
  ipv4ToInt,
  kubernetesServiceIP,
  NodePortAllocator,
  parsePortRange,
  parseServiceCidr,
} from '../../src/api/ipalloc';

/** Runs fn and returns the AllocationError it throws. */
function failure(fn: () => unknown): AllocationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AllocationError) return err;
    throw err;
  }
  throw new Error('expected an AllocationError');
}

describe('service CIDR', () => {
  test('is normalised to its network address; the 1st and 10th addresses are the kubernetes and DNS ones', () => {
    expect(parseServiceCidr('10.43.7.9/16').cidr).toBe('10.43.0.0/16');
    expect(kubernetesServiceIP('10.43.0.0/16')).toBe('10.43.0.1');
    expect(clusterDnsIP('10.43.0.0/16')).toBe('10.43.0.10');
    expect(clusterDnsIP('192.168.16.0/20')).toBe('192.168.16.10');
  });

  test.each([
    ['10.43.0.0', /expected an IPv4 CIDR/],
    ['fd00::/108', /expected an IPv4 CIDR/],
    ['10.43.0.256/16', /expected an IPv4 CIDR/],
    ['10.0.0.0/8', /too large/],
    ['10.43.0.0/29', /too small/],
  ])('%s is refused', (cidr, message) => {
    expect(() => parseServiceCidr(cidr)).toThrow(message);
  });

  test('node port ranges are LOW-HIGH, inclusive', () => {
    expect(parsePortRange('30000-32767')).toEqual({ base: 30000, size: 2768 });
    expect(parsePortRange('31000')).toEqual({ base: 31000, size: 1 });
    expect(() => parsePortRange('32767-30000')).toThrow(/invalid node port range/);
    expect(() => parsePortRange('0-10')).toThrow(/invalid node port range/);
  });
});

describe('ClusterIPAllocator', () => {
  test('a /28 hands out its 12 dynamic addresses once each, then reports the range full', () => {
    const a = new ClusterIPAllocator('10.96.0.0/28');
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add(a.allocateNext());
    expect(seen.size).toBe(12);
    // Never the network, broadcast, kubernetes (.1) or DNS (.10) address.
    for (const ip of ['10.96.0.0', '10.96.0.15', '10.96.0.1', '10.96.0.10']) expect(seen.has(ip)).toBe(false);
    const full = failure(() => a.allocateNext());
    expect(full.failure).toBe('full');
    expect(full.message).toBe('range is full');
    // The reserved addresses are still there for whoever asks for them by name.
    a.allocate('10.96.0.1');
    a.allocate('10.96.0.10');
    expect(a.free).toBe(0);
  });

  test('a requested address that is taken or outside the range fails with Kubernetes’ message', () => {
    const a = new ClusterIPAllocator('10.43.0.0/16');
    a.allocate('10.43.0.5');
    expect(failure(() => a.allocate('10.43.0.5'))).toMatchObject({ failure: 'allocated', message: 'provided IP is already allocated' });
    for (const ip of ['10.44.0.1', '10.43.0.0', '10.43.255.255']) {
      expect(failure(() => a.allocate(ip))).toMatchObject({
        failure: 'not-in-range',
        message: `the provided IP (${ip}) is not in the valid range. The range of valid IPs is 10.43.0.0/16`,
      });
    }
  });

  test('a released address can be taken again; releasing a free one is harmless', () => {
    const a = new ClusterIPAllocator('10.43.0.0/16');
    a.allocate('10.43.3.3');
    a.release('10.43.3.3');
    a.release('10.43.3.3');
    expect(a.used).toBe(0);
    a.allocate('10.43.3.3');
    expect(a.isAllocated('10.43.3.3')).toBe(true);
  });

  test('dynamic allocation stays out of the static band (the first 256 addresses of a /16) while it can', () => {
    const a = new ClusterIPAllocator('10.43.0.0/16');
    const lowest = ipv4ToInt('10.43.1.1')!;
    for (let i = 0; i < 500; i++) expect(ipv4ToInt(a.allocateNext())!).toBeGreaterThanOrEqual(lowest);
  });

  test('dynamic allocation falls back to the static band once the rest is full, and never collides', () => {
    // Scan from the start of each band every time: the worst case for collisions.
    const a = new ClusterIPAllocator('10.43.0.0/20', () => 0);
    const total = 2 ** 12 - 2 - 2;
    const seen = new Set<string>();
    for (let i = 0; i < total; i++) seen.add(a.allocateNext());
    expect(seen.size).toBe(total);
    expect(seen.has('10.43.0.2')).toBe(true);
    expect(() => a.allocateNext()).toThrow('range is full');
  });
});

describe('NodePortAllocator', () => {
  test('exhaustion, collisions and out-of-range requests', () => {
    const a = new NodePortAllocator('30000-30009');
    const ports = new Set<number>();
    for (let i = 0; i < 10; i++) ports.add(a.allocateNext());
    expect([...ports].sort()).toEqual([30000, 30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30009]);
    expect(failure(() => a.allocateNext())).toMatchObject({ failure: 'full', message: 'range is full' });
    a.release(30004);
    expect(failure(() => a.allocate(30005))).toMatchObject({ failure: 'allocated', message: 'provided port is already allocated' });
    expect(failure(() => a.allocate(29999))).toMatchObject({
      failure: 'not-in-range',
      message: 'provided port is not in the valid range. The range of valid ports is 30000-30009',
    });
    expect(a.allocateNext()).toBe(30004);
  });

  test('dynamic node ports avoid the static band (30000-30085 by default) while they can', () => {
    const a = new NodePortAllocator('30000-32767');
    for (let i = 0; i < 300; i++) expect(a.allocateNext()).toBeGreaterThanOrEqual(30086);
  });
});
