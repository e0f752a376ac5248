/**
 * client-go's ControllerExpectations, for controllers that create and delete
 * pods: before a batch of writes the controller records how many creations
 * and which deletions it expects to see, and the informer's events count
 * them down. While a key's expectations are unmet its informer cache may
 * not yet show the controller's own writes, so the controller must not act
 * on it (it would create the same pods twice). Expectations expire after
 * `ttlMs` (5 minutes, as in Kubernetes) so a lost event cannot wedge a key.
 */

interface Expectation {
  adds: number;
  /** Keys (namespace/name) of pods whose deletion is still to be observed. */
  deletes: Set<string>;
  timestamp: number;
}

export class Expectations {
  private readonly byKey = new Map<string, Expectation>();

  constructor(private readonly ttlMs = 5 * 60_000, private readonly now: () => number = Date.now) {}

  /** Whether the controller may act on the key: nothing is outstanding, nothing was recorded, or the record expired. */
  satisfied(key: string): boolean {
    const e = this.byKey.get(key);
    if (!e) return true;
    if (e.adds <= 0 && e.deletes.size === 0) return true;
    return this.now() - e.timestamp > this.ttlMs;
  }

  /** Records that `adds` creations and the deletion of `deletes` are about to be issued (replacing any old record). */
  expect(key: string, adds: number, deletes: string[] = []): void {
    this.byKey.set(key, { adds, deletes: new Set(deletes), timestamp: this.now() });
  }

  /** One expected creation was observed (or will never happen because the create failed). */
  creationObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e && e.adds > 0) e.adds--;
  }

  /** Lowers the outstanding creations by n, for creations that were never issued. */
  lowerCreations(key: string, n: number): void {
    const e = this.byKey.get(key);
    if (e) e.adds = Math.max(0, e.adds - n);
  }

  /** The deletion of `podKey` was observed (or failed, so will never be). */
  deletionObserved(key: string, podKey: string): void {
    this.byKey.get(key)?.deletes.delete(podKey);
  }

  /** Forgets the key (its owner is gone). */
  delete(key: string): void {
    this.byKey.delete(key);
  }
}
