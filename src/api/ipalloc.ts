import { randomInt } from 'node:crypto';

/**
 * The address and port pools Services draw from: the service CIDR
 * (`--service-cidr`) for cluster IPs and the node port range
 * (`--service-node-port-range`) for node ports. Pure bookkeeping, after
 * Kubernetes' pkg/registry/core/service/{ipallocator,portallocator}: a
 * bitmap per pool, random choice for dynamic allocation, and the lower band
 * of each pool kept for static requests (KEP-3070 and KEP-3668), so that an
 * address picked by hand (the DNS server's `.10`) is rarely taken already.
 *
 * Errors are AllocationError values carrying Kubernetes' messages; the API
 * server turns them into `422 Invalid` (a requested value) or `500` (a full
 * pool), as kube-apiserver does.
 */

/**
 * A pool that can be kept in a RangeAllocation record (see
 * apiserver/range-allocation.ts): its range as text, and its bitmap.
 */
export interface RangePool<T> {
  /** `10.43.0.0/16`, `30000-32767`: what RangeAllocation.range holds. */
  readonly rangeText: string;
  snapshot(): Buffer;
  restore(data: Uint8Array): void;
  clone(): RangePool<T>;
  sameAs(other: RangePool<T>): boolean;
  allocated(): T[];
  contains(value: T): boolean;
  isAllocated(value: T): boolean;
  allocate(value: T): void;
  release(value: T): void;
}

/** The default service CIDR, as k3s's. */
export const DEFAULT_SERVICE_CIDR = '10.43.0.0/16';
/** kube-apiserver's default --service-node-port-range. */
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';

export type AllocationFailure = 'full' | 'allocated' | 'not-in-range';

export class AllocationError extends Error {
  constructor(readonly failure: AllocationFailure, message: string) {
    super(message);
    this.name = 'AllocationError';
  }
}

/** A pseudo-random integer in [0, n): injectable so tests can pin the scan start. */
export type RandomInt = (n: number) => number;
const defaultRandom: RandomInt = (n) => (n <= 1 ? 0 : randomInt(n));

/**
 * A set of `size` slots, each free or taken. Dynamic allocation starts at a
 * random slot of the upper band [offset, size) and scans forward, wrapping;
 * only when that band is full does it look in the lower band [0, offset),
 * Kubernetes' randomScanStrategyWithOffset. Slots in `reserved` are never
 * handed out dynamically but may be asked for by number.
 */
export class BitmapAllocator {
  private readonly bits: Uint32Array;
  private used = 0;

  constructor(
    readonly size: number,
    private readonly offset: number,
    private readonly reserved: ReadonlySet<number> = new Set(),
    private readonly random: RandomInt = defaultRandom,
  ) {
    this.bits = new Uint32Array(Math.ceil(size / 32));
  }

  clone(): BitmapAllocator {
    const copy = new BitmapAllocator(this.size, this.offset, this.reserved, this.random);
    copy.bits.set(this.bits);
    copy.used = this.used;
    return copy;
  }

  get count(): number {
    return this.used;
  }

  has(i: number): boolean {
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Takes slot i; false when it was taken already. */
  take(i: number): boolean {
    if (this.has(i)) return false;
    this.bits[i >>> 5]! |= 1 << (i & 31);
    this.used++;
    return true;
  }

  /** Frees slot i (freeing a free slot is a no-op, as in Kubernetes). */
  free(i: number): void {
    if (!this.has(i)) return;
    this.bits[i >>> 5]! &= ~(1 << (i & 31));
    this.used--;
  }

  /** The taken slots, ascending. */
  taken(): number[] {
    const out: number[] = [];
    this.bits.forEach((word, w) => {
      for (let b = 0; word !== 0 && b < 32; b++) if (word & (1 << b)) out.push(w * 32 + b);
    });
    return out;
  }

  /**
   * The bitmap as kube-apiserver stores it in a RangeAllocation's `data`:
   * the bytes of a big-endian integer whose bit i is slot i (no leading zero bytes).
   */
  snapshot(): Buffer {
    const le = Buffer.alloc(Math.ceil(this.size / 8));
    for (const i of this.taken()) le[i >>> 3]! |= 1 << (i & 7);
    let end = le.length;
    while (end > 0 && le[end - 1] === 0) end--;
    return Buffer.from(le.subarray(0, end)).reverse();
  }

  /** Replaces every slot with what a snapshot says (slots beyond the size are ignored). */
  restore(data: Uint8Array): void {
    this.bits.fill(0);
    this.used = 0;
    for (let k = 0; k < data.length; k++) {
      const byte = data[data.length - 1 - k]!;
      for (let b = 0; byte !== 0 && b < 8; b++) {
        const i = k * 8 + b;
        if (byte & (1 << b) && i < this.size) this.take(i);
      }
    }
  }

  /** Whether both hold the same slots. */
  sameAs(other: BitmapAllocator): boolean {
    return this.bits.length === other.bits.length && this.bits.every((w, i) => w === other.bits[i]);
  }

  /** Takes a free slot chosen as described above, or returns undefined when none is left. */
  takeNext(): number | undefined {
    const found = this.scan(this.offset, this.size) ?? this.scan(0, this.offset);
    if (found !== undefined) this.take(found);
    return found;
  }

  private scan(from: number, to: number): number | undefined {
    const span = to - from;
    if (span <= 0) return undefined;
    const start = this.random(span);
    for (let k = 0; k < span; k++) {
      const i = from + ((start + k) % span);
      if (!this.has(i) && !this.reserved.has(i)) return i;
    }
    return undefined;
  }
}

/**
 * The size of the band kept for static allocation: Kubernetes'
 * calculateRangeOffset, min(max(min, size/step), max), none below `min`.
 */
function staticBand(size: number, min: number, max: number, step: number): number {
  if (size < min) return 0;
  return Math.min(Math.max(min, Math.floor(size / step)), max);
}

// ---------------------------------------------------------------------------
// IPv4 cluster IPs

export interface ServiceCidr {
  /** The CIDR as given, normalised: `10.43.0.0/16`. */
  cidr: string;
  /** The network address as a 32-bit unsigned integer. */
  network: number;
  prefix: number;
}

export function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255 || (p.length > 1 && p.startsWith('0'))) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function intToIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Parses `--service-cidr`. mk serves single-stack IPv4 Services; the range
 * must hold the cluster DNS address (the 10th), and may be at most a /12,
 * as kube-apiserver requires of --service-cluster-ip-range.
 */
export function parseServiceCidr(cidr: string): ServiceCidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr.trim());
  const ip = m ? ipv4ToInt(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw new Error(`invalid service CIDR "${cidr}": expected an IPv4 CIDR such as ${DEFAULT_SERVICE_CIDR}`);
  }
  if (prefix < 12) throw new Error(`service CIDR "${cidr}" is too large: the prefix length must be at least 12`);
  if (prefix > 28) throw new Error(`service CIDR "${cidr}" is too small: the prefix length must be at most 28 (the cluster DNS takes the 10th address)`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ip & mask) >>> 0;
  return { cidr: `${intToIPv4(network)}/${prefix}`, network, prefix };
}

/** The `n`th address of a service CIDR (the network address is the 0th). */
function nthAddress(cidr: string | ServiceCidr, n: number): string {
  const c = typeof cidr === 'string' ? parseServiceCidr(cidr) : cidr;
  return intToIPv4(c.network + n);
}

/** The `kubernetes` Service's cluster IP: the first address of the range, as kube-apiserver picks it. */
export function kubernetesServiceIP(cidr: string | ServiceCidr): string {
  return nthAddress(cidr, 1);
}

/**
 * The cluster DNS address: the 10th of the range (k3s's 10.43.0.10), the
 * convention kubeadm and k3s follow. Dynamic allocation never hands it out.
 */
export function clusterDnsIP(cidr: string | ServiceCidr): string {
  return nthAddress(cidr, 10);
}

/**
 * Cluster IPs of one service CIDR. The network and broadcast addresses are
 * not in the pool; the `kubernetes` and DNS addresses are only given to
 * whoever asks for them by name.
 */
export class ClusterIPAllocator implements RangePool<string> {
  readonly range: ServiceCidr;
  private bitmap: BitmapAllocator;
  /** The first usable address (network + 1). */
  private readonly base: number;

  constructor(cidr: string, private readonly random?: RandomInt) {
    this.range = parseServiceCidr(cidr);
    this.base = this.range.network + 1;
    const size = 2 ** (32 - this.range.prefix) - 2;
    const reserved = new Set([0, 9]); // .1 (kubernetes) and .10 (DNS), as offsets from base
    this.bitmap = new BitmapAllocator(size, staticBand(size, 16, 256, 16), reserved, random);
  }

  get rangeText(): string {
    return this.range.cidr;
  }

  clone(): ClusterIPAllocator {
    const copy = new ClusterIPAllocator(this.range.cidr, this.random);
    copy.bitmap = this.bitmap.clone();
    return copy;
  }

  sameAs(other: ClusterIPAllocator): boolean {
    return this.bitmap.sameAs(other.bitmap);
  }

  snapshot(): Buffer {
    return this.bitmap.snapshot();
  }

  restore(data: Uint8Array): void {
    this.bitmap.restore(data);
  }

  /** The addresses taken, ascending. */
  allocated(): string[] {
    return this.bitmap.taken().map((i) => intToIPv4(this.base + i));
  }

  get used(): number {
    return this.bitmap.count;
  }

  get free(): number {
    return this.bitmap.size - this.bitmap.count;
  }

  contains(ip: string): boolean {
    return this.index(ip) !== undefined;
  }

  isAllocated(ip: string): boolean {
    const i = this.index(ip);
    return i !== undefined && this.bitmap.has(i);
  }

  /** Takes a requested address; throws AllocationError when it is taken or outside the range. */
  allocate(ip: string): void {
    const i = this.index(ip);
    if (i === undefined) {
      throw new AllocationError('not-in-range', `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.range.cidr}`);
    }
    if (!this.bitmap.take(i)) throw new AllocationError('allocated', 'provided IP is already allocated');
  }

  /** Takes any free address; throws AllocationError('full') when none is left. */
  allocateNext(): string {
    const i = this.bitmap.takeNext();
    if (i === undefined) throw new AllocationError('full', 'range is full');
    return intToIPv4(this.base + i);
  }

  release(ip: string): void {
    const i = this.index(ip);
    if (i !== undefined) this.bitmap.free(i);
  }

  private index(ip: string): number | undefined {
    const n = ipv4ToInt(ip);
    if (n === undefined) return undefined;
    const i = n - this.base;
    return i >= 0 && i < this.bitmap.size ? i : undefined;
  }
}

// ---------------------------------------------------------------------------
// Node ports

export interface PortRange {
  base: number;
  size: number;
}

/** Parses `--service-node-port-range`: `30000-32767` (inclusive), or a single port. */
export function parsePortRange(text: string): PortRange {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  const low = m ? Number(m[1]) : NaN;
  const high = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(low >= 1 && high <= 65535 && low <= high)) {
    throw new Error(`invalid node port range "${text}": expected LOW-HIGH within 1-65535, such as ${DEFAULT_NODE_PORT_RANGE}`);
  }
  return { base: low, size: high - low + 1 };
}

export function formatPortRange(r: PortRange): string {
  return `${r.base}-${r.base + r.size - 1}`;
}

export class NodePortAllocator implements RangePool<number> {
  readonly range: PortRange;
  private bitmap: BitmapAllocator;

  constructor(range: string | PortRange, private readonly random?: RandomInt) {
    this.range = typeof range === 'string' ? parsePortRange(range) : range;
    this.bitmap = new BitmapAllocator(this.range.size, staticBand(this.range.size, 16, 128, 32), undefined, random);
  }

  get rangeText(): string {
    return formatPortRange(this.range);
  }

  clone(): NodePortAllocator {
    const copy = new NodePortAllocator(this.range, this.random);
    copy.bitmap = this.bitmap.clone();
    return copy;
  }

  sameAs(other: NodePortAllocator): boolean {
    return this.bitmap.sameAs(other.bitmap);
  }

  snapshot(): Buffer {
    return this.bitmap.snapshot();
  }

  restore(data: Uint8Array): void {
    this.bitmap.restore(data);
  }

  /** The ports taken, ascending. */
  allocated(): number[] {
    return this.bitmap.taken().map((i) => this.range.base + i);
  }

  get used(): number {
    return this.bitmap.count;
  }

  get free(): number {
    return this.bitmap.size - this.bitmap.count;
  }

  contains(port: number): boolean {
    return this.index(port) !== undefined;
  }

  isAllocated(port: number): boolean {
    const i = this.index(port);
    return i !== undefined && this.bitmap.has(i);
  }

  allocate(port: number): void {
    const i = this.index(port);
    if (i === undefined) {
      throw new AllocationError('not-in-range', `provided port is not in the valid range. The range of valid ports is ${formatPortRange(this.range)}`);
    }
    if (!this.bitmap.take(i)) throw new AllocationError('allocated', 'provided port is already allocated');
  }

  allocateNext(): number {
    const i = this.bitmap.takeNext();
    if (i === undefined) throw new AllocationError('full', 'range is full');
    return this.range.base + i;
  }

  release(port: number): void {
    const i = this.index(port);
    if (i !== undefined) this.bitmap.free(i);
  }

  private index(port: number): number | undefined {
    if (!Number.isInteger(port)) return undefined;
    const i = port - this.range.base;
    return i >= 0 && i < this.range.size ? i : undefined;
  }
}
