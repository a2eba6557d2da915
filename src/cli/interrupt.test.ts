// SIGINT/SIGTERM as etcdctl has them, over a fake process (a real kill would end the test runner).
import { describe, expect, test } from "bun:test";
import { type InterruptSignal, Interrupts, type SignalTarget, unlessInterrupted } from "./interrupt.ts";
import { runCtl } from "./main.ts";
import { fakeIo } from "./test-io.ts";

/** Records what is done to the process; `raise` delivers a signal to the handlers installed. */
function fakeProcess() {
  const events: string[] = [];
  const handlers = new Map<InterruptSignal, Set<(s: NodeJS.Signals) => void>>();
  const target: SignalTarget = {
    on(s, h) {
      events.push(`on ${s}`);
      if (!handlers.has(s)) handlers.set(s, new Set());
      handlers.get(s)!.add(h);
    },
    off(s, h) {
      events.push(`off ${s}`);
      handlers.get(s)?.delete(h);
    },
    dieBy: (s) => void events.push(`die ${s}`),
  };
  const raise = (s: InterruptSignal) => {
    for (const h of handlers.get(s) ?? []) h(s);
  };
  const installed = () => [...handlers.values()].reduce((n, set) => n + set.size, 0);
  return { target, events, raise, installed };
}

describe("Interrupts", () => {
  test("a command that takes interrupts is canceled by SIGINT or SIGTERM, and gives its handlers back", () => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const p = fakeProcess();
      const i = new Interrupts(true, {}, p.target);
      expect(p.installed()).toBe(2);
      expect(i.signal.aborted).toBe(false);
      p.raise(sig);
      expect(i.signal.aborted).toBe(true);
      i.dispose();
      expect(p.installed()).toBe(0);
      expect(p.events).not.toContain(`die ${sig}`);
    }
  });

  test("a signal that came before runCtl cancels such a command from the start; ours are installed before the entry's go", () => {
    const p = fakeProcess();
    const i = new Interrupts(true, { takeEarlySignal: () => (p.events.push("take"), "SIGINT") }, p.target);
    expect(i.signal.aborted).toBe(true);
    expect(p.events).toEqual(["on SIGINT", "on SIGTERM", "take"]);
  });

  test("any other command keeps the default action: an early signal ends the process by that signal", () => {
    const p = fakeProcess();
    const i = new Interrupts(false, { takeEarlySignal: () => "SIGTERM" }, p.target);
    expect(p.events).toEqual(["die SIGTERM"]);
    expect(p.installed()).toBe(0);
    expect(i.signal.aborted).toBe(false);
    i.dispose();
    expect(p.events).toEqual(["die SIGTERM"]);
  });

  test("no early signal: nothing happens, and the entry's handlers are still taken over", () => {
    let taken = 0;
    for (const takes of [true, false]) {
      const p = fakeProcess();
      const i = new Interrupts(takes, { takeEarlySignal: () => void taken++ }, p.target);
      expect(i.signal.aborted).toBe(false);
      expect(p.events.filter((e) => e.startsWith("die"))).toEqual([]);
      i.dispose();
      expect(p.installed()).toBe(0);
    }
    expect(taken).toBe(2);
  });
});

describe("runCtl and early signals", () => {
  test("a command without interrupt handling dies by the early signal, as Go's etcdctl would have", async () => {
    const p = fakeProcess();
    const { io } = fakeIo();
    await runCtl(["version"], io, {}, { takeEarlySignal: () => "SIGINT" }, p.target);
    expect(p.events).toEqual(["die SIGINT"]);
  });

  test("lock and elect take interrupts: handlers for the run, removed after it", async () => {
    for (const argv of [["lock"], ["elect"]]) {
      const p = fakeProcess();
      const { io, err } = fakeIo();
      // Without a name both fail at once on their arguments; the handlers were there meanwhile.
      expect(await runCtl(argv, io, {}, { takeEarlySignal: () => "SIGINT" }, p.target)).toBe(128);
      expect(err()).toStartWith("Error: ");
      expect(p.events).toEqual(["on SIGINT", "on SIGTERM", "off SIGINT", "off SIGTERM"]);
    }
  });
});

describe("unlessInterrupted", () => {
  test("an interrupt while the work is pending ends it with the command's cancellation error", async () => {
    const controller = new AbortController();
    const never = new Promise<number>(() => {});
    const pending = unlessInterrupted(controller.signal, never, () => new Error("context canceled"));
    controller.abort();
    await expect(pending).rejects.toThrow("context canceled");
  });

  test("without an interrupt the work's result comes through; an interrupt that came first cancels at once", async () => {
    const controller = new AbortController();
    expect(await unlessInterrupted(controller.signal, Promise.resolve(7), () => new Error("x"))).toBe(7);
    controller.abort();
    await expect(unlessInterrupted(controller.signal, Promise.resolve(7), () => new Error("context canceled"))).rejects.toThrow("context canceled");
  });
});
