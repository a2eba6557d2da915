// The server's allocator settings, which must be in the environment before the process starts:
// Bun's allocator (mimalloc) reads its options once, at its own initialisation, before any of our
// code runs. So a compiled server that finds them unset replaces itself (execve: same PID, same
// arguments, same argv0) with a copy of itself that has them.
//
// MIMALLOC_PURGE_HOLES=0: Bun's mimalloc gives the free runs inside still-used pages back to the
// kernel each time a thread is about to block. A server blocks thousands of times a second (every
// wait for an fsync or a socket), so the next requests fault the same pages back in: 0.6 page faults
// per put, a third of the process's system time. Without it, 0.2–0.3 faults per put and about 20 %
// less CPU per put (docs/performance.md). The price is RSS after a burst (freed memory still goes back
// to the kernel through the allocator's other purges, but later): it is paid for by SQLite's smaller
// page cache (backend.ts), so RSS after 200k puts stays at etcd's. Users who want the last MiB back
// set MIMALLOC_PURGE_HOLES=1 themselves: a value already present is never overridden.
import { takeEarlySignal } from "../pkg/early-signals.ts";

const SERVER_ALLOCATOR_ENV: Readonly<Record<string, string>> = { MIMALLOC_PURGE_HOLES: "0" };

/** The variables of SERVER_ALLOCATOR_ENV that env lacks, with their values. */
function missingAllocatorEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const missing: Record<string, string> = {};
  for (const [name, value] of Object.entries(SERVER_ALLOCATOR_ENV)) if (env[name] === undefined) missing[name] = value;
  return missing;
}

/**
 * Re-executes the compiled binary with the server's allocator settings when any is missing; returns
 * only when nothing was to be done or the exec failed (then the server runs with Bun's defaults).
 * Under `bun src/main.ts` (development and the unit tests) it does nothing: there the entry is a
 * script of the bun executable, not the product.
 */
export function execWithServerAllocatorEnv(): void {
  if (!Bun.main.startsWith("/$bunfs/")) return;
  const missing = missingAllocatorEnv(process.env);
  if (Object.keys(missing).length === 0) return;
  // A SIGINT/SIGTERM recorded while this image loaded would be lost across the exec.
  const early = takeEarlySignal();
  if (early !== undefined) {
    process.kill(process.pid, early);
    return;
  }
  try {
    process.execve?.(process.execPath, [process.argv0, ...process.argv.slice(2)], { ...process.env, ...missing });
  } catch {
    // Not worth failing the start for: the server is only slower without them.
  }
}
