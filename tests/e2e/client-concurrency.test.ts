// The client's concurrency recipes (src/client/concurrency) against a three-member dist/etcd cluster:
// the queue hands each item to exactly one consumer, the mutex never has two holders, elections move
// on when the leader resigns or its session ends, STM transfers keep the total, and our Mutex and the
// real `etcdctl lock` (Go's concurrency.Mutex) exclude each other.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, ConcurrencyErrors, Election, Mutex, Queue, Session, stm, type GetResult } from "../../src/client/index.ts";
import { freePort, haveEtcdctl, type Member, requireTool, startMember, startTrio } from "./harness.ts";



/** Waits (bounded) until cond holds; running out of time fails the test. */
async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/**
 * The error a promise rejects with. (Not `expect(p).rejects`: under bun test it can stall a request in
 * flight until its deadline; see the report.)
 */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection, but the promise resolved");
}

/** A promise's outcome after up to `ms`: "pending" if it has not settled. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<"pending" | "resolved" | "rejected"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p.then(
      () => "resolved" as const,
      () => "rejected" as const,
    ),
    new Promise<"pending">((res) => (timer = setTimeout(() => res("pending"), ms))),
  ]);
  clearTimeout(timer);
  return r;
}

describe("concurrency recipes against a three-member cluster", () => {
  let members: Member[] = [];
  let root = "";
  const clients: Client[] = [];
  /** A client whose first endpoint is member i (so the work spreads over the members), failing over to the rest. */
  const client = (i = 0) => {
    const eps = members.map((m) => m.endpoint);
    const c = new Client({ endpoints: [...eps.slice(i % 3), ...eps.slice(0, i % 3)], dialTimeoutMs: 2000 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    ({ members, root } = await startTrio("conc"));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const m of members) await m.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 30_000);

  test("queue: 10 concurrent consumers get each of 300 items exactly once", async () => {
    const N = 300;
    const q = new Queue(client(0), "jobs");
    const abort = new AbortController();
    const got: string[] = [];
    // The consumers start on an empty queue, so they first wait on watches, then race for items.
    const consumers = Array.from({ length: 10 }, async (_, i) => {
      const mine = new Queue(client(i), "jobs");
      const taken: string[] = [];
      while (got.length < N) {
        try {
          const v = (await mine.dequeue({ signal: abort.signal })).toString();
          taken.push(v);
          got.push(v);
        } catch (err) {
          if (abort.signal.aborted) break;
          throw err;
        }
      }
      return taken;
    });
    await Bun.sleep(200);
    const producers = [0, 1, 2].map(async (p) => {
      const pq = new Queue(client(p), "jobs");
      for (let i = p; i < N; i += 3) await pq.enqueue(`item-${String(i).padStart(4, "0")}`);
    });
    await Promise.all(producers);
    await until("every item dequeued", () => got.length >= N, 30_000);
    abort.abort();
    const perConsumer = await Promise.all(consumers);
    expect(got.length).toBe(N);
    expect(new Set(got).size).toBe(N);
    expect([...got].sort()).toEqual(Array.from({ length: N }, (_, i) => `item-${String(i).padStart(4, "0")}`));
    // More than one consumer took part (not a property, but a sign the test exercised contention).
    expect(perConsumer.filter((t) => t.length > 0).length).toBeGreaterThan(1);
    expect(await q.size()).toBe(0);
  }, 60_000);

  test("queue: a single consumer gets items in the order they were enqueued, and waits when empty", async () => {
    const q = new Queue(client(1), "fifo");
    const values = Array.from({ length: 40 }, (_, i) => `v${i}`);
    for (const v of values) await q.enqueue(v);
    const out: string[] = [];
    for (let i = 0; i < values.length; i++) out.push((await q.dequeue()).toString());
    expect(out).toEqual(values);

    const waiting = q.dequeue();
    expect(await settledWithin(waiting, 300)).toBe("pending");
    await new Queue(client(2), "fifo").enqueue("late");
    expect((await waiting).toString()).toBe("late");
  }, 30_000);

  test("mutex: under contention there is never more than one holder, and no increment is lost", async () => {
    const WORKERS = 6;
    const ROUNDS = 15;
    const setup = client(0);
    await setup.put("counter", "0");
    let holders = 0;
    let maxHolders = 0;
    const workers = Array.from({ length: WORKERS }, async (_, i) => {
      const c = client(i);
      const session = await Session.create(c, { ttlSeconds: 10 });
      const m = new Mutex(session, "counter-lock");
      for (let r = 0; r < ROUNDS; r++) {
        await m.lock();
        holders++;
        maxHolders = Math.max(maxHolders, holders);
        // A plain read-modify-write: only the lock keeps it from losing updates.
        const cur = Number((await c.get("counter")).kvs[0].value.toString());
        await Bun.sleep(Math.random() * 3);
        await c.put("counter", String(cur + 1));
        holders--;
        await m.unlock();
      }
      await session.close();
    });
    await Promise.all(workers);
    expect(maxHolders).toBe(1);
    expect(Number((await setup.get("counter")).kvs[0].value.toString())).toBe(WORKERS * ROUNDS);
    // Every session closed: no lock key is left behind.
    expect((await setup.get("counter-lock/", { prefix: true })).kvs.length).toBe(0);
  }, 60_000);

  test("mutex: tryLock fails while held; closing the holder's session hands the lock on; abort leaves the line", async () => {
    const a = await Session.create(client(0), { ttlSeconds: 10 });
    const b = await Session.create(client(1), { ttlSeconds: 10 });
    const c = await Session.create(client(2), { ttlSeconds: 10 });
    const ma = new Mutex(a, "handoff");
    await ma.lock();
    expect(ma.key).toBe(`handoff/${a.lease.toString(16)}`);
    const mb = new Mutex(b, "handoff");
    expect(await failure(mb.tryLock())).toBe(ConcurrencyErrors.locked);

    const abort = new AbortController();
    const mc = new Mutex(c, "handoff");
    const cWaits = mc.lock({ signal: abort.signal });
    const bWaits = mb.lock();
    expect(await settledWithin(bWaits, 300)).toBe("pending");
    abort.abort();
    expect(await settledWithin(cWaits, 5000)).toBe("rejected");
    // c gave up its place: only a's and b's keys remain.
    expect((await a.client.get("handoff/", { prefix: true })).kvs.map((kv) => kv.key.toString()).sort()).toEqual([ma.key, mb.key].sort());

    await a.close();
    await bWaits;
    expect(mb.header!.revision).toBeGreaterThan(0n);
    await b.close();
    await c.close();
  }, 30_000);

  test("election: the leader changes when it resigns or its session closes, and observe sees each leader", async () => {
    const s = await Promise.all([0, 1, 2].map((i) => Session.create(client(i), { ttlSeconds: 10 })));
    const e = s.map((x) => new Election(x, "leader-elect"));
    const watcherSession = await Session.create(client(1), { ttlSeconds: 10 });
    const abort = new AbortController();
    const seen: string[] = [];
    const observing = (async () => {
      for await (const r of new Election(watcherSession, "leader-elect").observe({ signal: abort.signal })) seen.push(r.kvs[0].value.toString());
    })();

    await e[0].campaign("one");
    const l0: GetResult = await e[1].leader();
    expect(l0.kvs[0].value.toString()).toBe("one");
    // Candidates queue in the order their keys are created: let "two" get in line before "three".
    const inLine = async (n: number) => (await s[0].client.get("leader-elect/", { prefix: true, countOnly: true })).count === BigInt(n);
    const second = e[1].campaign("two");
    await until("two in line", () => inLine(2));
    const third = e[2].campaign("three");
    await until("three in line", () => inLine(3));
    expect(await settledWithin(second, 300)).toBe("pending");
    await e[0].proclaim("one-again");
    await until("observer sees one-again", () => seen.includes("one-again"));

    await e[0].resign();
    await second;
    expect((await e[0].leader()).kvs[0].value.toString()).toBe("two");
    expect(await settledWithin(third, 200)).toBe("pending");
    await until("observer sees two", () => seen.at(-1) === "two");

    await s[1].close();
    await third;
    expect((await e[0].leader()).kvs[0].value.toString()).toBe("three");
    await until("observer sees three", () => seen.at(-1) === "three");
    abort.abort();
    await observing;
    expect(seen).toEqual(["one", "one-again", "two", "three"]);

    // A resigned candidate cannot proclaim.
    expect(await failure(e[0].proclaim("x"))).toBe(ConcurrencyErrors.electionNotLeader);
    await e[2].resign();
    expect(await failure(e[2].leader())).toBe(ConcurrencyErrors.electionNoLeader);
    for (const x of [s[0], s[2], watcherSession]) await x.close();
  }, 30_000);

  test("STM: concurrent transfers between accounts keep the total, and no balance goes negative", async () => {
    const ACCOUNTS = 5;
    const setup = client(0);
    for (let i = 0; i < ACCOUNTS; i++) await setup.put(`acct/${i}`, "100");
    let commits = 0;
    const workers = Array.from({ length: 8 }, async (_, w) => {
      const c = client(w);
      for (let t = 0; t < 20; t++) {
        const from = Math.floor(Math.random() * ACCOUNTS);
        const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
        const amount = 1 + Math.floor(Math.random() * 30);
        await stm(c, async (s) => {
          const a = Number(await s.get(`acct/${from}`));
          const b = Number(await s.get(`acct/${to}`));
          // Repeatable reads: a second read in the same attempt sees the same value.
          expect(Number(await s.get(`acct/${from}`))).toBe(a);
          const moved = Math.min(a, amount);
          s.put(`acct/${from}`, String(a - moved));
          s.put(`acct/${to}`, String(b + moved));
        });
        commits++;
      }
    });
    await Promise.all(workers);
    expect(commits).toBe(160);
    const balances = (await setup.get("acct/", { prefix: true })).kvs.map((kv) => Number(kv.value.toString()));
    expect(balances.length).toBe(ACCOUNTS);
    expect(balances.every((b) => b >= 0)).toBe(true);
    expect(balances.reduce((x, y) => x + y, 0)).toBe(ACCOUNTS * 100);
  }, 60_000);
});

const haveCtl = requireTool("etcdctl", haveEtcdctl());

describe.if(haveCtl)("our Mutex and the real etcdctl lock (Go's concurrency.Mutex) exclude each other", () => {
  let m: Member;
  const clients: Client[] = [];
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    m = await startMember();
  }, 20_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await m?.stop();
    if (m) rmSync(m.dataDir, { recursive: true, force: true });
  }, 20_000);

  /** `etcdctl lock <name>` in the background; `out()` is what it printed so far. */
  function ctlLock(name: string) {
    const p = spawn("etcdctl", ["--endpoints", m.endpoint, "lock", name], { env: { ...process.env, ETCDCTL_API: "3" }, stdio: ["ignore", "pipe", "pipe"] });
    procs.push(p);
    let out = "";
    p.stdout!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    return { p, out: () => out, exited };
  }

  test("a lock held by our Mutex blocks etcdctl lock until we unlock", async () => {
    const c = new Client({ endpoints: [m.endpoint] });
    clients.push(c);
    const s = await Session.create(c, { ttlSeconds: 10 });
    const mu = new Mutex(s, "interop");
    await mu.lock();
    const ctl = ctlLock("interop");
    await Bun.sleep(1500);
    expect(ctl.out()).toBe("");
    await mu.unlock();
    // etcdctl's key follows the same layout: <name>/<lease id in hex>, then the empty value's line
    // (the two lines may arrive in separate reads).
    await until("etcdctl holds the lock", () => /^interop\/[0-9a-f]+\n\n$/.test(ctl.out()));
    expect(ctl.out()).toMatch(/^interop\/[0-9a-f]+\n\n$/);
    ctl.p.kill("SIGINT");
    expect(await ctl.exited).toBe(0);
    await s.close();
  }, 30_000);

  test("a lock held by etcdctl blocks our Mutex until etcdctl releases it", async () => {
    const ctl = ctlLock("interop2");
    await until("etcdctl holds the lock", () => ctl.out().startsWith("interop2/"));
    const c = new Client({ endpoints: [m.endpoint] });
    clients.push(c);
    const s = await Session.create(c, { ttlSeconds: 10 });
    const mu = new Mutex(s, "interop2");
    expect(await failure(mu.tryLock())).toBe(ConcurrencyErrors.locked);
    const locking = mu.lock();
    expect(await settledWithin(locking, 1000)).toBe("pending");
    ctl.p.kill("SIGINT");
    await locking;
    expect(mu.key).toBe(`interop2/${s.lease.toString(16)}`);
    await s.close();
  }, 30_000);
});
