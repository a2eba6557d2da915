/**
 * SIGINT/SIGTERM that arrive while the binary is still evaluating its modules. The entry point
 * imports this module first, so its handlers are in place from the first statement: without them a
 * signal in that window (a fraction of a second) would end the process silently, where Go's etcdctl
 * is already listening (etcd's e2e suite interrupts `etcdctl lock` right after starting it).
 *
 * Whoever runs next must call take() exactly once, early: it removes these handlers (the signals get
 * their default action back, or the caller's own handlers) and says which signal came, if any.
 */
const SIGNALS = ["SIGINT", "SIGTERM"] as const;
const seen: NodeJS.Signals[] = [];
const record = (signal: NodeJS.Signals) => void seen.push(signal);
for (const s of SIGNALS) process.on(s, record);
let taken = false;

/** The first signal that came before this call, if any; the recording handlers are gone afterwards. */
export function takeEarlySignal(): NodeJS.Signals | undefined {
  if (!taken) {
    taken = true;
    for (const s of SIGNALS) process.off(s, record);
  }
  return seen[0];
}

/** For modes that do not handle signals themselves yet: an early signal ends the process as it would have. */
export function dieByEarlySignal(): void {
  const early = takeEarlySignal();
  if (early !== undefined) process.kill(process.pid, early);
}
