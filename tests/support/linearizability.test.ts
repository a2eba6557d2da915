import { describe, expect, test } from "bun:test";
import { checkKey, checkKv, pruneUnobserved, type KvOp } from "./linearizability.ts";

const put = (client: number, key: string, value: string, call: number, ret: number | null): KvOp => ({
  client,
  input: { kind: "put", key, value },
  call,
  ret,
  output: ret === null ? undefined : { kind: "put" },
});
const get = (client: number, key: string, value: string | null, call: number, ret: number | null): KvOp => ({
  client,
  input: { kind: "get", key },
  call,
  ret,
  output: ret === null ? undefined : { kind: "get", value },
});
const cas = (client: number, key: string, expect: string, value: string, call: number, ret: number | null, succeeded?: boolean, saw?: string | null): KvOp => ({
  client,
  input: { kind: "cas", key, expect, value },
  call,
  ret,
  output: ret === null ? undefined : { kind: "cas", succeeded: succeeded!, value: saw },
});

describe("linearizability checker (KV registers)", () => {
  test("an empty history and a sequential one are linearizable", () => {
    expect(checkKv([]).verdict).toBe("ok");
    const h = [get(0, "a", null, 0, 1), put(0, "a", "1", 2, 3), get(1, "a", "1", 4, 5), cas(1, "a", "1", "2", 6, 7, true), get(0, "a", "2", 8, 9), cas(0, "a", "1", "3", 10, 11, false, "2")];
    expect(checkKv(h).verdict).toBe("ok");
  });

  test("a stale read after a completed write is illegal", () => {
    const h = [put(0, "a", "1", 0, 1), put(0, "a", "2", 2, 3), get(1, "a", "1", 4, 5)];
    const r = checkKv(h);
    expect(r.verdict).toBe("illegal");
    expect(r.keys[0].detail).toContain("get(a)");
  });

  test("a lost acknowledged write is illegal", () => {
    // put 1 was acknowledged, nothing else wrote, a later read finds the key missing.
    expect(checkKv([put(0, "a", "1", 0, 1), get(1, "a", null, 2, 3)]).verdict).toBe("illegal");
    // Or an older value comes back after it.
    expect(checkKv([put(0, "a", "0", 0, 1), put(0, "a", "1", 2, 3), get(1, "a", "0", 4, 5)]).verdict).toBe("illegal");
  });

  test("overlapping operations may take effect in either order", () => {
    // put 1 and put 2 overlap; reads after both may see either, but all later reads must agree.
    const base = [put(0, "a", "1", 0, 10), put(1, "a", "2", 1, 9)];
    expect(checkKv([...base, get(2, "a", "1", 11, 12), get(2, "a", "1", 13, 14)]).verdict).toBe("ok");
    expect(checkKv([...base, get(2, "a", "2", 11, 12), get(2, "a", "2", 13, 14)]).verdict).toBe("ok");
    expect(checkKv([...base, get(2, "a", "1", 11, 12), get(2, "a", "2", 13, 14)]).verdict).toBe("illegal");
    // A read overlapping a write may see the old or the new value.
    expect(checkKv([put(0, "a", "1", 0, 1), put(0, "a", "2", 2, 6), get(1, "a", "1", 3, 4)]).verdict).toBe("ok");
    expect(checkKv([put(0, "a", "1", 0, 1), put(0, "a", "2", 2, 6), get(1, "a", "2", 3, 4)]).verdict).toBe("ok");
    // ... but two sequential reads during it cannot go new then old.
    expect(checkKv([put(0, "a", "1", 0, 1), put(0, "a", "2", 2, 9), get(1, "a", "2", 3, 4), get(1, "a", "1", 5, 6)]).verdict).toBe("illegal");
  });

  test("an indeterminate put may or may not have taken effect, at any time after its invocation", () => {
    // Never observed: fine.
    expect(checkKv([put(0, "a", "1", 0, 1), put(1, "a", "x", 2, null), get(2, "a", "1", 3, 4)]).verdict).toBe("ok");
    // Observed late: fine too.
    expect(checkKv([put(0, "a", "1", 0, 1), put(1, "a", "x", 2, null), get(2, "a", "1", 3, 4), get(2, "a", "x", 50, 51)]).verdict).toBe("ok");
    // Observed, then gone back to the older value without any other write: illegal.
    expect(checkKv([put(0, "a", "1", 0, 1), put(1, "a", "x", 2, null), get(2, "a", "x", 3, 4), get(2, "a", "1", 5, 6)]).verdict).toBe("illegal");
    // Observed before it was invoked: illegal.
    expect(checkKv([put(0, "a", "1", 0, 1), get(2, "a", "x", 2, 3), put(1, "a", "x", 4, null)]).verdict).toBe("illegal");
    // The same histories without pruning give the same verdicts.
    expect(checkKv([put(0, "a", "1", 0, 1), put(1, "a", "x", 2, null), get(2, "a", "1", 3, 4)], { prune: false }).verdict).toBe("ok");
    expect(checkKv([put(0, "a", "1", 0, 1), put(1, "a", "x", 2, null), get(2, "a", "x", 3, 4), get(2, "a", "1", 5, 6)], { prune: false }).verdict).toBe("illegal");
  });

  test("compare-and-set: success needs the expected value, failure needs another, a missing key never matches", () => {
    expect(checkKv([put(0, "a", "1", 0, 1), cas(1, "a", "1", "2", 2, 3, true), get(0, "a", "2", 4, 5)]).verdict).toBe("ok");
    expect(checkKv([put(0, "a", "1", 0, 1), cas(1, "a", "1", "2", 2, 3, false, "1")]).verdict).toBe("illegal");
    expect(checkKv([put(0, "a", "1", 0, 1), cas(1, "a", "0", "2", 2, 3, true)]).verdict).toBe("illegal");
    expect(checkKv([cas(1, "a", "0", "2", 0, 1, false, null)]).verdict).toBe("ok");
    expect(checkKv([cas(1, "a", "0", "2", 0, 1, false, "7")]).verdict).toBe("illegal");
    // Two concurrent CAS from the same value: only one may win.
    const from1 = [put(0, "a", "1", 0, 1)];
    expect(checkKv([...from1, cas(1, "a", "1", "2", 2, 5, true), cas(2, "a", "1", "3", 2, 5, false, "2")]).verdict).toBe("ok");
    expect(checkKv([...from1, cas(1, "a", "1", "2", 2, 5, true), cas(2, "a", "1", "3", 2, 5, true)]).verdict).toBe("illegal");
    // An indeterminate CAS that must have applied for a later read to make sense.
    expect(checkKv([...from1, cas(1, "a", "1", "2", 2, null), get(2, "a", "2", 10, 11)]).verdict).toBe("ok");
    // ... but it could not have applied once the value had moved on first.
    expect(checkKv([...from1, put(0, "a", "5", 2, 3), cas(1, "a", "1", "2", 4, null), get(2, "a", "2", 10, 11)]).verdict).toBe("illegal");
    // An indeterminate put enabling an indeterminate cas that is observed: pruning must keep the put.
    expect(checkKv([...from1, put(0, "a", "x", 2, null), cas(1, "a", "x", "y", 3, null), get(2, "a", "y", 10, 11)]).verdict).toBe("ok");
  });

  test("keys are independent", () => {
    const h = [put(0, "a", "1", 0, 1), put(0, "b", "1", 0, 1), get(1, "a", "1", 2, 3), get(1, "b", null, 2, 3)];
    const r = checkKv(h);
    expect(r.verdict).toBe("illegal");
    expect(r.keys.map((k) => [k.key, k.verdict])).toEqual([
      ["a", "ok"],
      ["b", "illegal"],
    ]);
  });

  test("pruning drops only unknown writes nobody observed, and only when every failure read is known", () => {
    const h = [put(0, "a", "1", 0, 1), put(1, "a", "x", 2, null), put(1, "a", "y", 2, null), get(2, "a", "y", 3, 4)];
    expect(pruneUnobserved(h).pruned).toBe(1);
    expect(pruneUnobserved([...h, cas(3, "a", "q", "z", 5, 6, false)]).pruned).toBe(0);
  });

  test("the search bound gives 'unknown', never a silent pass", () => {
    // Many unknown writes that are all observed: a large search space.
    const h: KvOp[] = [];
    for (let i = 0; i < 40; i++) h.push(put(i, "a", `v${i}`, 0, null));
    for (let i = 0; i < 40; i++) h.push(get(99, "a", `v${(i * 7) % 40}`, 10 + 2 * i, 11 + 2 * i));
    const r = checkKey("a", h, { maxSteps: 50 });
    expect(r.verdict).toBe("unknown");
    expect(r.detail).toContain("search bound");
  });

  test("a long concurrent linearizable history checks quickly", () => {
    // 8 clients, random overlapping ops produced from a true sequential execution (linearization
    // points inside each interval), with some unknown writes.
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let state: string | null = null;
    const h: KvOp[] = [];
    const busyUntil = new Array(8).fill(0);
    let t = 0;
    for (let i = 0; i < 3000; i++) {
      t += rnd() * 2;
      const c = Math.floor(rnd() * 8);
      if (busyUntil[c] > t) continue; // that client is still waiting for its previous op
      const call = Math.max(t - rnd() * 3, busyUntil[c]);
      const ret = t + rnd() * 3;
      busyUntil[c] = ret + 0.001;
      const r = rnd();
      if (r < 0.4) h.push(get(c, "k", state, call, ret));
      else if (r < 0.7) {
        const v = `v${i}`;
        state = v;
        h.push(put(c, "k", v, call, rnd() < 0.05 ? null : ret));
      } else {
        const expectV = rnd() < 0.6 && state !== null ? state : `v${Math.floor(rnd() * i)}`;
        const ok = state !== null && state === expectV;
        const before = state;
        if (ok) state = `c${i}`;
        h.push(cas(c, "k", expectV, `c${i}`, call, ret, ok, ok ? undefined : before));
      }
    }
    const r = checkKv(h);
    expect(r.verdict).toBe("ok");
    expect(r.checkedOps).toBeGreaterThan(1000);
    expect(r.ms).toBeLessThan(10_000);
    // One read made stale (it returns the value from two writes earlier, long after): illegal.
    const reads = h.map((op, i) => [op, i] as const).filter(([op]) => op.input.kind === "get" && op.output?.kind === "get" && op.output.value !== null);
    const [victim, at] = reads[Math.floor(reads.length / 2)];
    const older = h.slice(0, at).filter((op) => op.input.kind === "put" && op.ret !== null && op.ret < victim.call - 20).at(-1)!;
    const bad = [...h];
    bad[at] = { ...victim, output: { kind: "get", value: (older.input as { value: string }).value } };
    expect(checkKv(bad).verdict).toBe("illegal");
  });
});
