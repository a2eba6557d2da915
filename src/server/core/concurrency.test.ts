import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { WatchHub } from "../../mvcc/watch/watch-hub.ts";
import { GrpcCode, isEtcdError } from "../../pkg/errors.ts";
import { ConcurrencyService, type ConcurrencyDeps } from "./concurrency.ts";
import { applyDeleteRange, applyRange, applyTxn } from "./kv-apply.ts";

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array | null | undefined) => new TextDecoder().decode(u ?? new Uint8Array(0));
const ALL = new Uint8Array([0]);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** The services over a real store and watch hub, with the server's apply functions and a set of leases. */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), "concurrency-"));
  const backend = new Backend(join(dir, "db"));
  const store = new MvccStore(backend);
  const hub = new WatchHub(store, { progressIntervalMs: 0 });
  store.onEvents = (rev, events) => hub.notify(rev, events);
  cleanups.push(() => {
    hub.close();
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const leases = new Set<bigint>();
  const lookup = { exists: (id: bigint) => leases.has(id) };
  let nextLease = 0x100n;
  const header = (revision: bigint) => ({ clusterId: 1n, memberId: 2n, revision, raftTerm: 3n });
  const deps: ConcurrencyDeps = {
    range: async (r) => {
      const out = applyRange(store, r);
      return { ...out, header: header(out.header.revision) };
    },
    txn: async (r) => {
      const out = applyTxn(store, r, lookup);
      return { ...out, header: header(out.header.revision) };
    },
    deleteRange: async (r) => {
      const out = store.write((t) => applyDeleteRange(t, r));
      return { ...out, header: header(out.header.revision) };
    },
    grantLease: async () => {
      const id = nextLease++;
      leases.add(id);
      return id;
    },
    header,
    watchHub: hub,
  };
  const grant = () => deps.grantLease(60n);
  const revoke = (id: bigint) => {
    leases.delete(id);
    const keys = applyRange(store, { key: ALL, rangeEnd: ALL }).kvs.filter((kv) => kv.lease === id);
    if (keys.length) store.write((t) => keys.forEach((kv) => t.deleteRange(kv.key, null)));
  };
  const keys = () => applyRange(store, { key: ALL, rangeEnd: ALL }).kvs.map((kv) => s(kv.key));
  const watchers = () => {
    const st = hub.stats;
    return st.synced + st.unsynced + st.victims;
  };
  return { svc: new ConcurrencyService(deps), store, hub, grant, revoke, keys, watchers };
}

/** Lets pending promise chains run (the fake server answers synchronously). */
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function track<T>(p: Promise<T>) {
  const t = { done: false, value: undefined as T | undefined, error: undefined as unknown };
  p.then(
    (v) => ((t.done = true), (t.value = v)),
    (e) => ((t.done = true), (t.error = e)),
  );
  return t;
}

describe("v3lock", () => {
  test("an uncontended lock takes one transaction; a second caller waits until the first unlocks", async () => {
    const { svc, grant, keys, watchers } = setup();
    const [l1, l2] = [await grant(), await grant()];
    const a = await svc.lock({ name: b("m"), lease: l1 });
    expect(s(a.key)).toBe(`m/${l1.toString(16)}`);
    const second = track(svc.lock({ name: b("m"), lease: l2 }));
    await settle();
    expect(second.done).toBe(false);
    expect(keys()).toEqual([`m/${l1.toString(16)}`, `m/${l2.toString(16)}`]);
    expect(watchers()).toBe(1);
    const un = await svc.unlock({ key: a.key });
    await settle();
    expect(second.done).toBe(true);
    expect(s(second.value!.key)).toBe(`m/${l2.toString(16)}`);
    expect(second.value!.header!.revision! >= un.header!.revision!).toBe(true);
    expect(watchers()).toBe(0);
  });

  test("a waiter whose predecessor goes away waits for the next older key, not for the lock to be free", async () => {
    const { svc, grant, keys } = setup();
    const [l1, l2, l3] = [await grant(), await grant(), await grant()];
    const a = await svc.lock({ name: b("m"), lease: l1 });
    const second = track(svc.lock({ name: b("m"), lease: l2 }));
    await settle();
    const third = track(svc.lock({ name: b("m"), lease: l3 }));
    await settle();
    await svc.unlock({ key: b(`m/${l2.toString(16)}`) }); // the middle one leaves
    await settle();
    expect(third.done).toBe(false);
    expect(keys()).toEqual([`m/${l1.toString(16)}`, `m/${l3.toString(16)}`]);
    await svc.unlock({ key: a.key });
    await settle();
    expect(third.done).toBe(true);
    expect(s(third.value!.key)).toBe(`m/${l3.toString(16)}`);
    // The second caller, whose key was deleted while it waited, is answered too once the older key goes:
    // etcd's Mutex does not look at its own key again.
    expect(second.done).toBe(true);
  });

  test("a lock held under a revoked lease passes to the next waiter", async () => {
    const { svc, grant, revoke } = setup();
    const [l1, l2] = [await grant(), await grant()];
    await svc.lock({ name: b("m"), lease: l1 });
    const second = track(svc.lock({ name: b("m"), lease: l2 }));
    await settle();
    expect(second.done).toBe(false);
    revoke(l1);
    await settle();
    expect(s(second.value?.key)).toBe(`m/${l2.toString(16)}`);
  });

  test("a waiting caller that goes away leaves neither its key nor a watcher", async () => {
    const { svc, grant, keys, watchers } = setup();
    const [l1, l2] = [await grant(), await grant()];
    await svc.lock({ name: b("m"), lease: l1 });
    const ac = new AbortController();
    const second = track(svc.lock({ name: b("m"), lease: l2 }, ac.signal));
    await settle();
    expect(watchers()).toBe(1);
    ac.abort();
    await settle();
    expect(second.done).toBe(true);
    expect(isEtcdError(second.error) && second.error.code).toBe(GrpcCode.Canceled);
    expect(keys()).toEqual([`m/${l1.toString(16)}`]);
    expect(watchers()).toBe(0);
  });

  test("the same lease locking again gets its key back without waiting", async () => {
    const { svc, grant } = setup();
    const l1 = await grant();
    const a = await svc.lock({ name: b("m"), lease: l1 });
    const again = await svc.lock({ name: b("m"), lease: l1 });
    expect(s(again.key)).toBe(s(a.key));
    expect(again.header!.revision).toBe(a.header!.revision!);
  });

  test("lease 0 locks under a new lease; an unknown lease fails with etcd's text and code Unknown", async () => {
    const { svc, store } = setup();
    const a = await svc.lock({ name: b("m"), lease: 0n });
    const kv = applyRange(store, { key: a.key! }).kvs[0];
    expect(kv.lease).toBe(0x100n);
    const err = await svc.lock({ name: b("m"), lease: 0x999n }).catch((e) => e);
    expect([err.code, err.message]).toEqual([GrpcCode.Unknown, "etcdserver: requested lease not found"]);
  });
});

describe("v3election", () => {
  test("campaign, proclaim, observe, resign: the second candidate leads once the first resigns", async () => {
    const { svc, grant, watchers } = setup();
    const [l1, l2] = [await grant(), await grant()];
    const seen: string[] = [];
    const ac = new AbortController();
    const observing = svc.observe({ name: b("e") }, async (r) => void seen.push(`${s(r.kv!.key)}=${s(r.kv!.value)}`), ac.signal);
    const c1 = await svc.campaign({ name: b("e"), lease: l1, value: b("one") });
    expect(c1.leader).toMatchObject({ key: b(`e/${l1.toString(16)}`), lease: l1, rev: c1.header!.revision });
    const c2 = track(svc.campaign({ name: b("e"), lease: l2, value: b("two") }));
    await settle();
    expect(c2.done).toBe(false);
    await svc.proclaim({ leader: c1.leader, value: b("one'") });
    expect(s((await svc.leader({ name: b("e") })).kv!.value)).toBe("one'");
    await svc.resign({ leader: c1.leader });
    await settle();
    expect(c2.done).toBe(true);
    const notLeader = await svc.proclaim({ leader: c1.leader, value: b("late") }).catch((e) => e);
    expect([notLeader.code, notLeader.message]).toEqual([GrpcCode.Unknown, "election: not leader"]);
    expect(s((await svc.leader({ name: b("e") })).kv!.key)).toBe(`e/${l2.toString(16)}`);
    await settle();
    expect(seen).toEqual([`e/${l1.toString(16)}=one`, `e/${l1.toString(16)}=one'`, `e/${l2.toString(16)}=two`]);
    ac.abort();
    await observing;
    expect(watchers()).toBe(0);
    await svc.resign({ leader: c2.value!.leader });
    const none = await svc.leader({ name: b("e") }).catch((e) => e);
    expect([none.code, none.message]).toEqual([GrpcCode.Unknown, "election: no leader"]);
  });

  test("a waiting candidate that goes away resigns and leaves no watcher", async () => {
    const { svc, grant, keys, watchers } = setup();
    const [l1, l2] = [await grant(), await grant()];
    await svc.campaign({ name: b("e"), lease: l1, value: b("one") });
    const ac = new AbortController();
    const c2 = track(svc.campaign({ name: b("e"), lease: l2, value: b("two") }, ac.signal));
    await settle();
    ac.abort();
    await settle();
    expect(isEtcdError(c2.error) && c2.error.code).toBe(GrpcCode.Canceled);
    expect(keys()).toEqual([`e/${l1.toString(16)}`]);
    expect(watchers()).toBe(0);
  });

  test("campaigning again with the same lease keeps the place and proclaims the new value", async () => {
    const { svc, grant } = setup();
    const l1 = await grant();
    const first = await svc.campaign({ name: b("e"), lease: l1, value: b("one") });
    const again = await svc.campaign({ name: b("e"), lease: l1, value: b("two") });
    expect(again.leader!.rev).toBe(first.leader!.rev!);
    expect(again.header!.revision).toBe(first.header!.revision!); // etcd answers with its transaction's header
    expect(s((await svc.leader({ name: b("e") })).kv!.value)).toBe("two");
  });

  test("requests without a leader key fail as etcd's", async () => {
    const { svc } = setup();
    for (const p of [svc.proclaim({ value: b("x") }), svc.resign({})]) {
      const err = await p.catch((e) => e);
      expect([err.code, err.message]).toEqual([GrpcCode.Unknown, '"leader" field must be provided']);
    }
  });
});
