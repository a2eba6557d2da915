// Test support: a seeded random history of the size a simulation run produces (thousands of
// operations from concurrent clients, a hundred watches, leases, compactions, indeterminate and
// refused writes), right by construction because HistoryBuilder executes it on its reference store.
import { seededRandom } from "../../../../src/pkg/prng.ts";
import type { History, KvOp, Operation, WatchRecord } from "../history.ts";
import { HistoryBuilder, type OpOptions } from "./history-builder.ts";

export interface RandomHistoryOptions {
  seed: number;
  operations: number;
  watches: number;
  keys?: number;
}

export function randomHistory(o: RandomHistoryOptions): { history: History; builder: HistoryBuilder } {
  const rnd = seededRandom(o.seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const keys = Array.from({ length: o.keys ?? 20 }, (_, i) => `k${String(i).padStart(2, "0")}`);
  const b = new HistoryBuilder();
  let valueN = 0;
  const value = () => `v${++valueN}`;
  const leases: { id: bigint; lastKeepAliveMs: number }[] = [];
  const sessionRev = new Map<string, bigint>();
  const open: WatchRecord[] = [];
  const late: { op: Operation; at: number }[] = [];
  let watchesLeft = o.watches;
  const watchEvery = Math.max(1, Math.floor(o.operations / (o.watches + 1)));
  let t = 0;

  for (let i = 0; i < o.operations; i++) {
    t += 2;
    b.now = t;
    const client = 1 + Math.floor(rnd() * 5);
    const member = BigInt(1 + Math.floor(rnd() * 3));
    // Concurrent clients: each op is applied at t, inside [start, end].
    const timing: OpOptions = { client, member, start: t - Math.floor(rnd() * 3), end: t + 1 + Math.floor(rnd() * 3) };
    const x = rnd();
    const key = pick(keys);
    if (x < 0.3) {
      const lease = rnd() < 0.1 && leases.length ? pick(leases).id : undefined;
      b.put(key, value(), { ...timing, lease, prevKv: rnd() < 0.3 });
    } else if (x < 0.38) {
      const end = rnd() < 0.3 ? pick(keys) : undefined;
      b.del(key, end && end > key ? end : undefined, { ...timing, prevKv: rnd() < 0.5 });
    } else if (x < 0.66) {
      const session = `${client}/${member}`;
      const serializable = rnd() < 0.3;
      const whole = rnd() < 0.3;
      let revision: bigint | undefined;
      if (rnd() < 0.1 && b.rev > b.compactRev + 1n) revision = b.compactRev + 1n + BigInt(Math.floor(rnd() * Number(b.rev - b.compactRev)));
      const staleAt = serializable && !revision && rnd() < 0.5 ? sessionRev.get(session) : undefined;
      b.range(whole ? "k" : key, whole ? "l" : undefined, { ...timing, serializable, revision, staleAt });
    } else if (x < 0.8) {
      const other = pick(keys);
      const compare: Extract<KvOp, { kind: "txn" }>["compare"] = [
        rnd() < 0.5 ? { key, target: "version", op: ">", value: 0n } : { key, target: "mod", op: "<", value: b.rev - 2n },
      ];
      const success: KvOp[] = [{ kind: "put", key, value: value() }, { kind: "range", key: other, serializable: false }];
      const failure: KvOp[] = rnd() < 0.5 ? [{ kind: "delete", key: other, prevKv: true }] : [{ kind: "put", key: other, value: value() }];
      b.txn(compare, key === other ? success.slice(0, 1) : success, failure, timing);
    } else if (x < 0.83) {
      // The client times out: the write may have happened, may never happen, or may happen later.
      const how: OpOptions = { ...timing, outcome: rnd() < 0.5 ? "indeterminate" : "pending", apply: rnd() < 0.6 };
      const y = rnd();
      const op =
        y < 0.6
          ? b.put(key, value(), how)
          : y < 0.8
            ? b.del(key, undefined, how)
            : b.txn([{ key, target: "version", op: ">", value: 0n }], [{ kind: "put", key, value: value() }], [{ kind: "delete", key: pick(keys) }], how);
      if (!how.apply && rnd() < 0.5) late.push({ op, at: i + 1 + Math.floor(rnd() * 50) });
    } else if (x < 0.85) {
      b.put(key, value(), { ...timing, outcome: "error" });
    } else if (x < 0.86 && b.rev > b.compactRev + 20n) {
      b.compact(b.rev - 10n, timing);
    } else if (x < 0.88) {
      leases.push({ id: b.grant(1, timing), lastKeepAliveMs: t });
    } else if (x < 0.92 && leases.length) {
      const l = pick(leases);
      b.keepAlive(l.id, timing);
      l.lastKeepAliveMs = t;
    } else if (x < 0.93 && leases.length) {
      const l = leases.splice(Math.floor(rnd() * leases.length), 1)[0];
      b.revoke(l.id, timing);
    } else {
      b.range(key, undefined, { ...timing, serializable: false });
    }
    if (timing.client && b.operations.length) {
      const last = b.operations[b.operations.length - 1];
      if (last.outcome?.type === "ok") sessionRev.set(`${client}/${member}`, last.outcome.result.revision);
    }
    for (let j = late.length - 1; j >= 0; j--) {
      if (late[j].at > i) continue;
      b.applyLate(late[j].op);
      late.splice(j, 1);
    }
    // Leases not kept alive for their TTL expire.
    for (let j = leases.length - 1; j >= 0; j--) {
      if (t - leases[j].lastKeepAliveMs > 1100) {
        b.now = t;
        b.expire(leases[j].id, t);
        leases.splice(j, 1);
      }
    }
    // Watches: opened over the run (some from the past, some resuming one that broke), fed now and then.
    if (watchesLeft > 0 && i % watchEvery === 0) {
      watchesLeft--;
      const broken = open.length > 3 && rnd() < 0.3 ? open.splice(Math.floor(rnd() * open.length), 1)[0] : undefined;
      const lastRev = broken?.responses.flatMap((r) => r.events).at(-1)?.kv.modRevision;
      if (broken && lastRev !== undefined && lastRev >= b.compactRev) {
        b.deliver(broken);
        broken.ended = { reason: "member-down" };
        const lastDelivered = broken.responses.flatMap((r) => r.events).at(-1)!.kv.modRevision;
        open.push(b.watch({ key: broken.key, end: broken.end, filters: broken.filters, prevKv: broken.prevKv, startRevision: lastDelivered + 1n, member: pick([1n, 2n, 3n]) }));
      } else {
        const kind = rnd();
        const fromPast = rnd() < 0.3 && b.rev > b.compactRev + 1n;
        open.push(
          b.watch({
            key: kind < 0.5 ? key : "k",
            end: kind < 0.5 ? undefined : kind < 0.8 ? "l" : "k1",
            startRevision: fromPast ? b.compactRev + 1n : 0n,
            prevKv: rnd() < 0.5,
            filters: rnd() < 0.1 ? [pick(["noput", "nodelete"] as const)] : [],
            member: pick([1n, 2n, 3n]),
          }),
        );
      }
    }
    for (const w of open) {
      const r = rnd();
      if (r < 0.05) b.deliver(w, { perRevision: rnd() < 0.5 });
      else if (r < 0.06) b.progress(w);
    }
  }
  for (const w of open) b.progress(w);
  for (const member of [1n, 2n, 3n]) {
    b.range("k", "l", { member, serializable: true, start: t + 10, end: t + 11 });
    b.snapshot(member);
  }
  return { history: b.build(), builder: b };
}
