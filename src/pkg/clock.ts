/**
 * Time as the server sees it. Production passes the system clock; the whole-server simulation passes
 * a fake one it advances itself, so a run replays exactly from its seed.
 */
export interface Clock {
  /** Milliseconds on a monotonic-enough scale (deadlines, ages). */
  now(): number;
  /** Calls fn every ms until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls fn once after ms unless the returned function is called first; never keeps the process alive by itself. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    (t as { unref?: () => void }).unref?.();
    return () => clearTimeout(t);
  },
};
