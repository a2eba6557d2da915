/** A lease's place in the expiry order, as `spreadExpiries` reads and moves it. */
export interface Expiry {
  id: bigint;
  expiresAtMs: number;
}

/**
 * After a leader change every lease restarts its countdown at the same moment, so leases granted in a
 * burst would all expire in the same second and be revoked in one storm of proposals. Like etcd's
 * Promote, when there are at least `revokePerSecondMax` leases, this caps each one-second window of
 * expiries at 3/4 of that rate (leaving room for leases that expire on their own) by pushing the
 * excess into later windows. It only ever moves an expiry later, never earlier.
 *
 * `sorted` must be in expiry order (then id); expiries are changed in place. Returns how many moved.
 */
export function spreadExpiries(sorted: Expiry[], revokePerSecondMax: number): number {
  if (sorted.length < revokePerSecondMax) return 0; // all of them can be revoked within a second
  const perWindowMax = Math.max(1, Math.floor((3 * revokePerSecondMax) / 4));
  const windowMs = 1000;
  let windowStartMs = -Infinity;
  let inWindow = 0;
  let moved = 0;
  for (const e of sorted) {
    if (e.expiresAtMs >= windowStartMs + windowMs) {
      windowStartMs = e.expiresAtMs; // a gap: a new window starts at this lease
      inWindow = 0;
    } else if (inWindow === perWindowMax) {
      windowStartMs += windowMs; // this window is full: open the next one
      inWindow = 0;
    }
    // A lease may sort before the current window's start only because earlier ones were pushed.
    if (e.expiresAtMs < windowStartMs) {
      e.expiresAtMs = windowStartMs;
      moved++;
    }
    inWindow++;
  }
  return moved;
}
