import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processAlive } from '../../pid';

/**
 * The ClusterIPs held on the host, as kube-proxy's IPVS mode holds them on
 * kube-ipvs0: an interface of mk's own (`mk-svc0`) carries each address as
 * a /32, so the kernel delivers traffic for it locally, from the node itself
 * and from pods (through the container bridge and the host's routing), to
 * the proxy listening there. Nothing leaves the machine and no iptables rule
 * is needed.
 *
 * The interface is a `dummy` where the kernel has that driver, else a
 * bridge without ports, which holds addresses the same way. Only one agent
 * per host can own it: a lock file in /run names the owner's pid. Whatever
 * a crashed owner left behind is removed by the next one to start, and
 * everything is removed when the owner stops (or its process exits).
 */

export const DEFAULT_INTERFACE = 'mk-svc0';
export const DEFAULT_LOCK_FILE = '/run/mk/service-proxy.lock';

export interface HostAddressesOptions {
  interfaceName?: string;
  lockFile?: string;
  log?: (line: string) => void;
}

interface IpResult {
  stdout: string;
  stderr: string;
}

function ip(args: string[], input?: string): Promise<IpResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr ?? '').trim() }));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Instances in this process that own a lock, so a second one in the same process is refused too. */
const ownedHere = new Set<string>();

export class HostAddresses {
  readonly interfaceName: string;
  private readonly lockFile: string;
  private readonly log: (line: string) => void;
  private owned = false;
  private held = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private readonly onExit = () => this.releaseSync();

  constructor(opts: HostAddressesOptions = {}) {
    this.interfaceName = opts.interfaceName ?? DEFAULT_INTERFACE;
    this.lockFile = opts.lockFile ?? DEFAULT_LOCK_FILE;
    this.log = opts.log ?? (() => undefined);
  }

  /** Why this process cannot hold addresses, or undefined when it can (Linux, root, iproute2 present). */
  static async unavailableReason(): Promise<string | undefined> {
    if (process.platform !== 'linux') return `ClusterIPs need Linux (this is ${process.platform})`;
    if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'ClusterIPs need root (the agent adds them to a network interface)';
    try {
      await ip(['-V']);
    } catch {
      return "ClusterIPs need the `ip` command (iproute2), which is not installed";
    }
    return undefined;
  }

  /**
   * Takes the host's lock and creates a fresh interface (removing a crashed
   * owner's). Resolves false, changing nothing, when a live agent owns it.
   */
  async acquire(): Promise<boolean> {
    if (this.owned) return true;
    if (ownedHere.has(this.lockFile) || !this.takeLock()) return false;
    this.owned = true;
    ownedHere.add(this.lockFile);
    process.once('exit', this.onExit);
    try {
      await this.deleteLink();
      try {
        await ip(['link', 'add', this.interfaceName, 'type', 'dummy']);
      } catch {
        // No dummy driver (some container hosts): a bridge with no ports holds addresses just as well.
        await ip(['link', 'add', this.interfaceName, 'type', 'bridge']);
      }
      // No IPv6 link-local address: the interface carries only what mk puts on it.
      await ip(['link', 'set', this.interfaceName, 'addrgenmode', 'none']).catch(() => undefined);
      await ip(['link', 'set', this.interfaceName, 'up']);
    } catch (err) {
      await this.release();
      throw new Error(`creating interface ${this.interfaceName} failed: ${(err as { stderr?: string }).stderr || (err as Error).message}`);
    }
    this.held = new Set();
    return true;
  }

  /** The addresses now on the interface (what sync last achieved). */
  addresses(): ReadonlySet<string> {
    return this.held;
  }

  /**
   * Makes the interface hold exactly these IPv4 addresses (each as a /32).
   * Calls are serialized; a failed command is logged and retried on the next sync.
   */
  sync(ips: Iterable<string>): Promise<void> {
    const wanted = new Set(ips);
    this.chain = this.chain.then(() => this.apply(wanted));
    return this.chain;
  }

  private async apply(wanted: Set<string>): Promise<void> {
    if (!this.owned) return;
    let current: Set<string>;
    try {
      current = await this.readAddresses();
    } catch (err) {
      this.log(`reading the addresses of ${this.interfaceName} failed: ${(err as Error).message}`);
      return;
    }
    const lines: string[] = [];
    for (const a of wanted) if (!current.has(a)) lines.push(`address add ${a}/32 dev ${this.interfaceName}`);
    for (const a of current) if (!wanted.has(a)) lines.push(`address del ${a}/32 dev ${this.interfaceName}`);
    if (lines.length) {
      // One `ip` process for the whole change: a hundred Services cost one fork, not a hundred.
      try {
        await ip(['-force', '-batch', '-'], lines.join('\n') + '\n');
      } catch (err) {
        this.log(`updating the addresses of ${this.interfaceName} failed: ${(err as { stderr?: string }).stderr || (err as Error).message}`);
      }
    }
    this.held = await this.readAddresses().catch(() => wanted);
  }

  private async readAddresses(): Promise<Set<string>> {
    const { stdout } = await ip(['-j', '-4', 'address', 'show', 'dev', this.interfaceName]);
    const out = new Set<string>();
    for (const link of JSON.parse(stdout || '[]')) for (const a of link.addr_info ?? []) if (a.local) out.add(a.local);
    return out;
  }

  /** Removes the interface (and with it every address) and gives up the lock. */
  async release(): Promise<void> {
    if (!this.owned) return;
    await this.chain.catch(() => undefined);
    await this.deleteLink().catch((err) => this.log(`removing interface ${this.interfaceName} failed: ${(err as Error).message}`));
    this.dropLock();
  }

  private releaseSync(): void {
    if (!this.owned) return;
    try {
      execFileSync('ip', ['link', 'del', this.interfaceName], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    this.dropLock();
  }

  private dropLock(): void {
    this.owned = false;
    this.held = new Set();
    ownedHere.delete(this.lockFile);
    process.off('exit', this.onExit);
    try {
      if (Number(JSON.parse(fs.readFileSync(this.lockFile, 'utf8')).pid) === process.pid) fs.rmSync(this.lockFile, { force: true });
    } catch {
      // no lock file, or not ours
    }
  }

  private async deleteLink(): Promise<void> {
    try {
      await ip(['link', 'del', this.interfaceName]);
    } catch (err) {
      const msg = (err as { stderr?: string }).stderr ?? '';
      if (!/Cannot find device|does not exist/i.test(msg)) throw err;
    }
  }

  private takeLock(): boolean {
    fs.mkdirSync(path.dirname(this.lockFile), { recursive: true, mode: 0o755 });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lockFile, JSON.stringify({ pid: process.pid, interface: this.interfaceName }) + '\n', { flag: 'wx', mode: 0o644 });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let pid = 0;
      try {
        pid = Number(JSON.parse(fs.readFileSync(this.lockFile, 'utf8')).pid) || 0;
      } catch {
        // unreadable: treat as stale
      }
      if (pid && pid !== process.pid && processAlive(pid)) {
        this.log(`another mk agent (pid ${pid}) holds the service addresses of this host (${this.lockFile})`);
        return false;
      }
      this.log(`removing what a stopped mk agent (pid ${pid || 'unknown'}) left on this host`);
      fs.rmSync(this.lockFile, { force: true });
    }
    return false;
  }
}
