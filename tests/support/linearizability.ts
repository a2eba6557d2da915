// A linearizability checker for a key-value store seen as one register per key, for Jepsen-style tests.
//
// Model (per key, state = the value or null when the key is missing):
//   put(k, v)                         → ok                  state := v
//   get(k)                            → v | null            legal iff state === v
//   cas(k, a, b)   (txn: if value(k) == a then put(k, b) else get(k))
//                                      → {succeeded: true}  legal iff state === a (not null); state := b
//                                      → {succeeded: false, value?}
//                                                           legal iff state !== a (a missing key never
//                                                           compares equal, as in etcd) and, when the
//                                                           else-branch read is given, state === value
//
// History: each operation has an invoke time and either a completion time with its output, or no
// completion ("unknown": timed out, connection lost). An unknown operation may have taken effect at
// any point after its invocation, or never; it is modelled as completing at +infinity (its outcome is
// whatever the model gives at the point where it is linearized; "never" = linearized last). Unknown
// reads constrain nothing and are dropped.
//
// A history of a KV store is linearizable iff the sub-history of every key is (the registers are
// independent), so each key is checked on its own.
//
// Algorithm: Wing & Gong's search with Lowe's memoization, as in Porcupine: walk the time-ordered
// call/return entries; at a call, try to linearize that operation now (if the model allows it and the
// pair (set of linearized ops, state) was not explored before), else look further; at a return whose
// operation is not linearized yet, backtrack. The set is a bitset with a Zobrist hash for the cache.
// The search is bounded (steps and wall time): when it runs out, the verdict is "unknown", never "ok".
//
// Pruning (sound, see pruneUnobserved): an unknown write whose value no completed operation ever
// observes can be dropped, which keeps timed-out writes from blowing up the search.

export type KvInput =
  | { kind: "put"; key: string; value: string }
  | { kind: "get"; key: string }
  | { kind: "cas"; key: string; expect: string; value: string };

export type KvOutput =
  | { kind: "put" }
  | { kind: "get"; value: string | null }
  /** value: what the failure branch read (null = missing); undefined = not observed */
  | { kind: "cas"; succeeded: boolean; value?: string | null };

export interface KvOp {
  /** who issued it (for messages only) */
  client: number;
  input: KvInput;
  /** invoke time (any monotonic clock, same for every op) */
  call: number;
  /** completion time, or null when the outcome is unknown */
  ret: number | null;
  /** required when ret !== null */
  output?: KvOutput;
}

export type Verdict = "ok" | "illegal" | "unknown";

export interface KeyReport {
  key: string;
  verdict: Verdict;
  /** operations searched (after dropping unknown reads and pruning) */
  ops: number;
  /** unknown operations kept / pruned */
  unknownKept: number;
  pruned: number;
  steps: number;
  ms: number;
  /** for "illegal" / "unknown": what went wrong, human-readable */
  detail?: string;
}

export interface CheckReport {
  verdict: Verdict;
  keys: KeyReport[];
  /** operations in the history (completed + unknown, reads included) */
  totalOps: number;
  /** operations the search had to place */
  checkedOps: number;
  ms: number;
}

export interface CheckOptions {
  /** per key; default 5,000,000 */
  maxSteps?: number;
  /** for the whole check; default 60 s */
  timeoutMs?: number;
  /** drop unknown writes nobody observed (default true) */
  prune?: boolean;
}

type State = string | null;

/** The model's transition; null = illegal. For unknown ops (output undefined) every outcome is allowed. */
export function step(state: State, input: KvInput, output: KvOutput | undefined): { ok: boolean; state: State } {
  switch (input.kind) {
    case "put":
      return { ok: true, state: input.value };
    case "get":
      if (output === undefined) return { ok: true, state };
      return { ok: output.kind === "get" && output.value === state, state };
    case "cas": {
      const matches = state !== null && state === input.expect;
      if (output === undefined) return { ok: true, state: matches ? input.value : state };
      if (output.kind !== "cas") return { ok: false, state };
      if (output.succeeded) return matches ? { ok: true, state: input.value } : { ok: false, state };
      if (matches) return { ok: false, state };
      return { ok: output.value === undefined || output.value === state, state };
    }
  }
}

function describe(op: KvOp, id: number): string {
  const i = op.input;
  const what =
    i.kind === "put" ? `put(${i.key}, ${JSON.stringify(i.value)})` : i.kind === "get" ? `get(${i.key})` : `cas(${i.key}, ${JSON.stringify(i.expect)} → ${JSON.stringify(i.value)})`;
  let out = "?";
  if (op.ret !== null && op.output) {
    const o = op.output;
    out = o.kind === "put" ? "ok" : o.kind === "get" ? JSON.stringify(o.value) : o.succeeded ? "succeeded" : `failed${o.value !== undefined ? ` (saw ${JSON.stringify(o.value)})` : ""}`;
  }
  const t = (x: number) => x.toFixed(1);
  return `#${id} client ${op.client} ${what} → ${out} [${t(op.call)}, ${op.ret === null ? "unknown" : t(op.ret)}]`;
}

/**
 * Drops unknown writes (put, cas) whose written value no completed operation observes.
 * Sound when every completed state-dependent operation observes the state it depends on: gets
 * (value), successful cas (expect), failed cas with its else-branch read. If a failed cas without a
 * read is present, nothing is pruned. The expect of every cas (even unknown ones) counts as observed.
 * Why: in any linearization, after such a write w of v the state is v until the next write, and no
 * operation linearized in between can depend on v; removing w (and moving the unknown cas ops that
 * failed in between to the end) gives a linearization of the rest. Conversely, a linearization of the
 * rest extends with w placed last.
 */
export function pruneUnobserved(ops: KvOp[]): { kept: KvOp[]; pruned: number } {
  const observed = new Set<string>();
  for (const op of ops) {
    if (op.input.kind === "cas") observed.add(op.input.expect);
    if (op.ret === null || !op.output) continue;
    const o = op.output;
    if (o.kind === "get" && o.value !== null) observed.add(o.value);
    if (o.kind === "cas" && !o.succeeded) {
      if (o.value === undefined) return { kept: ops, pruned: 0 };
      if (o.value !== null) observed.add(o.value);
    }
  }
  const kept = ops.filter((op) => op.ret !== null || op.input.kind === "get" || observed.has(op.input.value));
  return { kept, pruned: ops.length - kept.length };
}

interface Entry {
  op: number; // index into ops
  isCall: boolean;
  time: number;
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** 32-bit xorshift for the Zobrist table (deterministic). */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

/** Checks one key's operations (all on the same key). */
export function checkKey(
  key: string,
  history: KvOp[],
  opts: { maxSteps?: number; deadline?: number; prune?: boolean } = {},
): KeyReport {
  const started = performance.now();
  for (const op of history) if (op.ret !== null && op.output === undefined) throw new Error(`completed operation without output: ${describe(op, -1)}`);
  const relevant = history.filter((op) => !(op.ret === null && op.input.kind === "get"));
  const { kept: ops, pruned } = opts.prune === false ? { kept: relevant, pruned: 0 } : pruneUnobserved(relevant);
  const n = ops.length;
  const report = (verdict: Verdict, steps: number, detail?: string): KeyReport => ({
    key,
    verdict,
    ops: n,
    unknownKept: ops.filter((o) => o.ret === null).length,
    pruned,
    steps,
    ms: performance.now() - started,
    detail,
  });
  if (n === 0) return report("ok", 0);

  // Entries in time order; on equal times calls come first (the ops overlap: the permissive reading).
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const call: Entry = { op: i, isCall: true, time: ops[i].call, match: null, prev: null, next: null };
    const ret: Entry = { op: i, isCall: false, time: ops[i].ret ?? Infinity, match: call, prev: null, next: null };
    call.match = ret;
    entries.push(call, ret);
  }
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Entry = { op: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const words = (n + 31) >>> 5;
  const linearized = new Uint32Array(words);
  const rnd = xorshift(0x2545f491 ^ n);
  const z1 = new Uint32Array(n);
  const z2 = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    z1[i] = rnd();
    z2[i] = rnd();
  }
  let h1 = 0;
  let h2 = 0;
  const cache = new Map<string, Uint32Array[]>();
  const stateKey = (s: State) => (s === null ? "\u0000" : "=" + s);
  const seen = (s: State): boolean => {
    const k = `${h1}:${h2}:${stateKey(s)}`;
    const list = cache.get(k);
    if (list) {
      outer: for (const bits of list) {
        for (let w = 0; w < words; w++) if (bits[w] !== linearized[w]) continue outer;
        return true;
      }
      list.push(linearized.slice());
    } else cache.set(k, [linearized.slice()]);
    return false;
  };
  const toggle = (i: number) => {
    linearized[i >>> 5] ^= 1 << (i & 31);
    h1 ^= z1[i];
    h2 ^= z2[i];
  };
  const lift = (e: Entry) => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Entry) => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };

  const maxSteps = opts.maxSteps ?? 5_000_000;
  const deadline = opts.deadline ?? Infinity;
  let state: State = null;
  const stack: { entry: Entry; state: State }[] = [];
  let entry: Entry | null = head.next;
  let steps = 0;
  // The deepest point reached, for the explanation of a failure.
  let best = { depth: -1, blocked: -1, state: null as State, lastOps: [] as number[] };

  while (head.next !== null) {
    if (++steps > maxSteps || ((steps & 0xfff) === 0 && performance.now() > deadline)) {
      return report("unknown", steps, `search bound reached after ${steps} steps (${n} ops, ${stack.length} linearized at the time); verdict unknown`);
    }
    if (entry!.isCall) {
      const op = ops[entry!.op];
      const r = step(state, op.input, op.ret === null ? undefined : op.output);
      if (r.ok) {
        toggle(entry!.op);
        if (!seen(r.state)) {
          stack.push({ entry: entry!, state });
          state = r.state;
          lift(entry!);
          entry = head.next;
          continue;
        }
        toggle(entry!.op);
      }
      entry = entry!.next;
    } else {
      // A return whose operation could not be linearized before it: backtrack.
      if (stack.length > best.depth) {
        best = { depth: stack.length, blocked: entry!.op, state, lastOps: stack.slice(-5).map((s) => s.entry.op) };
      }
      if (stack.length === 0) break;
      const top = stack.pop()!;
      state = top.state;
      toggle(top.entry.op);
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  if (head.next === null) return report("ok", steps);
  const detail = [
    `key ${JSON.stringify(key)} is not linearizable: at best ${best.depth} of ${n} operations could be linearized;`,
    `then ${describe(ops[best.blocked], best.blocked)} could not be, with the register at ${JSON.stringify(best.state)}.`,
    `last linearized: ${best.lastOps.map((i) => describe(ops[i], i)).join("; ") || "(none)"}`,
    `operations concurrent with it: ${ops
      .map((o, i) => [o, i] as const)
      .filter(([o, i]) => i !== best.blocked && o.call <= (ops[best.blocked].ret ?? Infinity) && (o.ret ?? Infinity) >= ops[best.blocked].call)
      .slice(0, 12)
      .map(([o, i]) => describe(o, i))
      .join("; ")}`,
  ].join("\n  ");
  return report("illegal", steps, detail);
}

/** Checks a whole KV history: per key, independently. "illegal" beats "unknown" beats "ok". */
export function checkKv(history: KvOp[], opts: CheckOptions = {}): CheckReport {
  const started = performance.now();
  const deadline = started + (opts.timeoutMs ?? 60_000);
  const byKey = new Map<string, KvOp[]>();
  for (const op of history) {
    const list = byKey.get(op.input.key) ?? [];
    list.push(op);
    byKey.set(op.input.key, list);
  }
  const keys: KeyReport[] = [];
  for (const [key, ops] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    keys.push(checkKey(key, ops, { maxSteps: opts.maxSteps, deadline, prune: opts.prune }));
  }
  const verdict: Verdict = keys.some((k) => k.verdict === "illegal") ? "illegal" : keys.some((k) => k.verdict === "unknown") ? "unknown" : "ok";
  return { verdict, keys, totalOps: history.length, checkedOps: keys.reduce((s, k) => s + k.ops, 0), ms: performance.now() - started };
}
