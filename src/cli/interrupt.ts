/**
 * SIGINT and SIGTERM while etcdctl runs, as Go's etcdctl has them: a command that asks for them
 * (lock and elect call signal.Notify) sees them as the cancellation of its context and ends with
 * "Error: context canceled" or cleans up; for every other command they keep their default action,
 * ending the process.
 *
 * The binary needs a fraction of a second to evaluate its modules before runCtl runs, and a signal in
 * that window would kill it silently, where Go's etcdctl (started in a few milliseconds) would already
 * be listening. So the entry point records signals from its first statement and hands them over:
 * runCtl calls `takeEarlySignal()` once, which must remove the entry's recording handlers (giving the
 * signals their default action back) and return the first signal that came, if any. A command that
 * takes interrupts then starts out canceled; any other command dies by that signal, as it would have.
 */

export type InterruptSignal = "SIGINT" | "SIGTERM";

export interface CtlStartOptions {
  /** See the module comment: the signal that arrived before runCtl, taking over from the entry's handlers. */
  takeEarlySignal?: () => NodeJS.Signals | undefined;
}

/** The process as far as signals go (a fake in tests: a real kill would end the test runner). */
export interface SignalTarget {
  on(signal: InterruptSignal, handler: (signal: NodeJS.Signals) => void): void;
  off(signal: InterruptSignal, handler: (signal: NodeJS.Signals) => void): void;
  /** Ends the process by `signal`'s default action (handlers of ours are removed first). */
  dieBy(signal: NodeJS.Signals): void;
}

export const processSignals: SignalTarget = {
  on: (s, h) => void process.on(s, h),
  off: (s, h) => void process.off(s, h),
  dieBy: (s) => void process.kill(process.pid, s),
};

const SIGNALS: readonly InterruptSignal[] = ["SIGINT", "SIGTERM"];

export class Interrupts {
  readonly #controller = new AbortController();
  readonly #target: SignalTarget;
  readonly #listening: boolean;
  readonly #onSignal = () => this.#controller.abort();

  /**
   * `takes`: the command handles interrupts (its signal aborts); otherwise nothing is installed and
   * an early signal ends the process at once, by its default action.
   */
  constructor(takes: boolean, start: CtlStartOptions = {}, target: SignalTarget = processSignals) {
    this.#target = target;
    this.#listening = takes;
    // Ours first, then the entry's go: no moment without a handler, where a signal would kill.
    if (takes) for (const s of SIGNALS) target.on(s, this.#onSignal);
    const early = start.takeEarlySignal?.();
    if (early === undefined) return;
    if (takes) this.#controller.abort();
    else target.dieBy(early);
  }

  /** Aborts on SIGINT/SIGTERM (or at once, for one that came early); never, for commands that do not take them. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  dispose(): void {
    if (this.#listening) for (const s of SIGNALS) this.#target.off(s, this.#onSignal);
  }
}

/** Resolves when the signal aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/**
 * `work`, unless an interrupt comes first: then the command ends with "context canceled", as Go's
 * etcdctl would (there the signal would end a session being made; here the handler is already ours,
 * so it must not be swallowed until the cluster answers).
 */
export async function unlessInterrupted<T>(signal: AbortSignal, work: Promise<T>, canceled: () => Error): Promise<T> {
  if (signal.aborted) throw canceled();
  return Promise.race([work, aborted(signal).then(() => Promise.reject(canceled()))]);
}

