// Our own TypeScript client (src/client) against the compiled dist/etcd: KV and txn round trips,
// etcd's errors, watch order, lease keep-alive, endpoint failover, and the issue's key property: a watch
// resumes across the death of the member its stream is on with every revision delivered exactly once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, compare, EtcdError, Errors, GrpcCode, op, WatchCompactedError, type WatchEvent, type Watcher } from "../../src/client/index.ts";
import { freePort, type Member, ROOT, startMember, suiteMember, startTrio } from "./harness.ts";

/** Collects a watcher's events until `done` says so (bounded by timeoutMs). */
async function collect(w: Watcher, done: (seen: WatchEvent[]) => boolean, timeoutMs = 10_000): Promise<WatchEvent[]> {
  const seen: WatchEvent[] = [];
  const it = w[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (!done(seen)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`watch timed out after ${seen.length} events: ${seen.map((e) => `${e.type} ${e.kv.key} @${e.revision}`).join(", ")}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([it.next(), new Promise<null>((res) => (timer = setTimeout(() => res(null), left)))]);
    clearTimeout(timer);
    if (r === null) continue;
    if (r.done) break;
    seen.push(r.value);
  }
  return seen;
}

async function thrown(p: Promise<unknown>): Promise<EtcdError> {
  try {
    await p;
  } catch (e) {
    return e as EtcdError;
  }
  throw new Error("expected the call to fail");
}

describe("client against one member", () => {
  const suite = suiteMember();
  let c: Client;
  beforeAll(() => {
    c = new Client({ endpoints: [suite.m.endpoint] });
  });
  afterAll(() => c?.close());

  test("put, get and delete round trip strings and bytes, with prevKv, prefix, limit, sort, count and revisions", async () => {
    const first = await c.put("kv/a", "1");
    const second = await c.put("kv/a", "2", { prevKv: true });
    expect(second.header.revision).toBe(first.header.revision + 1n);
    expect(second.prevKv?.value.toString()).toBe("1");
    await c.put(new Uint8Array([0x6b, 0x76, 0x2f, 0x62]), new Uint8Array([0, 1, 255]));
    await c.put("kv/c", "3");

    const a = await c.get("kv/a");
    expect(a.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.version, kv.modRevision])).toEqual([["kv/a", "2", 2n, second.header.revision]]);
    expect([...(await c.get("kv/b")).kvs[0].value]).toEqual([0, 1, 255]);
    expect((await c.get("kv/a", { revision: first.header.revision })).kvs[0].value.toString()).toBe("1");

    const all = await c.get("kv/", { prefix: true, limit: 2 });
    expect([all.kvs.map((kv) => kv.key.toString()), all.more, all.count]).toEqual([["kv/a", "kv/b"], true, 3n]);
    const desc = await c.get("kv/", { prefix: true, sort: { target: "key", order: "descend" }, keysOnly: true });
    expect(desc.kvs.map((kv) => [kv.key.toString(), kv.value.length])).toEqual([["kv/c", 0], ["kv/b", 0], ["kv/a", 0]]);
    const counted = await c.get("kv/", { prefix: true, countOnly: true, serializable: true });
    expect([counted.count, counted.kvs.length]).toEqual([3n, 0]);
    expect((await c.get("kv/a", { rangeEnd: "kv/c" })).count).toBe(2n);

    const del = await c.delete("kv/", { prefix: true, prevKv: true });
    expect([del.deleted, del.prevKvs.map((kv) => kv.key.toString())]).toEqual([3n, ["kv/a", "kv/b", "kv/c"]]);
    expect((await c.get("kv/", { prefix: true })).count).toBe(0n);
  });

  test("txn: compares on value, version, create, mod and lease pick the branch; results come back per op", async () => {
    const p = await c.put("tx/k", "v1");
    const rev = p.header.revision;
    const ok = await c
      .txn()
      .if(compare.value("tx/k", "=", "v1"), compare.version("tx/k", ">", 0), compare.create("tx/k", "=", rev), compare.mod("tx/k", "<", rev + 1n), compare.lease("tx/k", "=", 0))
      .then(op.put("tx/k", "v2", { prevKv: true }), op.get("tx/k"), op.put("tx/other", "x"))
      .else(op.get("tx/k"))
      .commit();
    expect(ok.succeeded).toBe(true);
    expect(ok.responses.map((r) => r.type)).toEqual(["put", "get", "put"]);
    const [put, get] = ok.responses;
    expect(put.type === "put" && put.prevKv?.value.toString()).toBe("v1");
    expect(get.type === "get" && get.kvs[0].value.toString()).toBe("v2");

    const no = await c.txn().if(compare.value("tx/k", "!=", "v2")).then(op.delete("tx/k")).else(op.delete("tx/other", { prevKv: true }), op.get("tx/k")).commit();
    expect(no.succeeded).toBe(false);
    const [d, g] = no.responses;
    expect(d.type === "delete" && [d.deleted, d.prevKvs[0].value.toString()]).toEqual([1n, "x"]);
    expect(g.type === "get" && g.kvs[0].value.toString()).toBe("v2");
  });

  test("errors surface with etcd's codes and texts, as the same values as pkg/errors.ts", async () => {
    const rev = (await c.put("err/k", "v")).header.revision;
    expect(await thrown(c.get("err/k", { revision: rev + 1000n }))).toBe(Errors.futureRev);
    expect(await thrown(c.put("", "v"))).toBe(Errors.emptyKey);
    expect(await thrown(c.txn().then(op.put("err/d", "1"), op.put("err/d", "2")).commit())).toBe(Errors.duplicateKey);
    expect(await thrown(c.lease.revoke(0x1234n))).toBe(Errors.leaseNotFound);
    expect(await thrown(c.put("err/k", "v", { lease: 0x1234n }))).toBe(Errors.leaseNotFound);
    await c.put("err/k", "w");
    await c.compact(rev + 1n);
    const compacted = await thrown(c.get("err/k", { revision: rev }));
    expect(compacted).toBe(Errors.compacted);
    expect([compacted.code, compacted.message]).toEqual([GrpcCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted"]);
    // A watch from a compacted revision ends with the compact revision.
    const w = c.watch("err/k", { startRevision: rev });
    const werr = await thrown(w[Symbol.asyncIterator]().next());
    expect(werr).toBeInstanceOf(WatchCompactedError);
    expect((werr as WatchCompactedError).compactRevision).toBe(rev + 1n);
    // Cancellation and deadlines are local.
    expect((await thrown(c.get("err/k", { signal: AbortSignal.abort() }))).code).toBe(GrpcCode.Canceled);
  });

  test("a watch sees puts and deletes in order, with revisions and prevKv; filters and cancel work", async () => {
    const w = c.watch("wo/", { prefix: true, prevKv: true });
    const noPut = c.watch("wo/", { prefix: true, filters: ["noPut"] });
    const created = await w.ready;
    await noPut.ready;
    const r1 = (await c.put("wo/a", "1")).header.revision;
    const r2 = (await c.put("wo/a", "2")).header.revision;
    const r3 = (await c.delete("wo/a")).header.revision;
    const r4 = (await c.txn().then(op.put("wo/b", "x"), op.put("wo/c", "y")).commit()).header.revision;
    expect(r1).toBeGreaterThan(created);
    const seen = await collect(w, (s) => s.length >= 5);
    expect(seen.map((e) => [e.type, e.kv.key.toString(), e.kv.value.toString(), e.revision, e.prevKv?.value.toString()])).toEqual([
      ["put", "wo/a", "1", r1, undefined],
      ["put", "wo/a", "2", r2, "1"],
      ["delete", "wo/a", "", r3, "2"],
      ["put", "wo/b", "x", r4, undefined],
      ["put", "wo/c", "y", r4, undefined],
    ]);
    const deletes = await collect(noPut, (s) => s.length >= 1);
    expect(deletes.map((e) => [e.type, e.revision])).toEqual([["delete", r3]]);
    w.cancel();
    noPut.cancel();
    expect(await w[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
    // Watching from a past revision replays history.
    const replay = c.watch("wo/a", { startRevision: r1 });
    expect((await collect(replay, (s) => s.length >= 3)).map((e) => e.revision)).toEqual([r1, r2, r3]);
    replay.cancel();
  });

  test("lease keep-alive keeps a key alive past its TTL; stopping lets it expire; revoke reports the loss", async () => {
    const lease = await c.lease.grant(2);
    expect(lease.ttl).toBe(2n);
    await c.put("ls/k", "v", { lease });
    const ka = lease.keepAlive();
    await Bun.sleep(3500);
    expect(ka.active).toBe(true);
    expect(ka.ttl).toBe(2n);
    expect((await c.get("ls/k")).count).toBe(1n);
    const ttl = await lease.timeToLive({ keys: true });
    expect([ttl.id, ttl.grantedTtl, ttl.keys.map(String)]).toEqual([lease.id, 2n, ["ls/k"]]);
    expect(ttl.ttl).toBeGreaterThan(0n);
    expect((await c.lease.leases()).leases).toContain(lease.id);
    ka.stop();
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      await Bun.sleep(200);
      gone = (await c.get("ls/k")).count === 0n;
    }
    expect(gone).toBe(true);
    expect((await c.lease.timeToLive(lease.id)).ttl).toBe(-1n);

    const second = await c.lease.grant(10);
    const ka2 = second.keepAlive();
    await second.revoke();
    expect(await ka2.lost).toBe(Errors.leaseNotFound);
    expect(ka2.active).toBe(false);
  }, 20_000);

  test("the package imports under Bun (source) and under Node (the bundle from npm run build:client)", async () => {
    const viaName = await import("etcd-ts");
    expect(viaName.Client).toBe(Client);
    const out = mkdtempSync(join(tmpdir(), "client-bundle-"));
    try {
      const bundle = join(out, "client.js");
      const build = spawnSync(join(ROOT, "node_modules/.bin/bun"), ["build", "--target=node", "src/client/index.ts", "--outfile", bundle], { cwd: ROOT, encoding: "utf8" });
      expect(build.status).toBe(0);
      const script = `
        import { Client, compare, op } from ${JSON.stringify(bundle)};
        const c = new Client({ endpoints: [${JSON.stringify(suite.m.endpoint)}] });
        const p = await c.put("node/k", "from node");
        const t = await c.txn().if(compare.mod("node/k", "=", p.header.revision)).then(op.get("node/k")).commit();
        console.log(JSON.stringify({ value: t.responses[0].kvs[0].value.toString(), big: typeof p.header.revision, node: !!process.versions.node && !process.versions.bun }));
        c.close();`;
      const r = spawnSync("node", ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ value: "from node", big: "bigint", node: true });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 30_000);
});


describe("client against a three-member cluster", () => {
  let members: Member[] = [];
  let root = "";
  const clients: Client[] = [];
  const client = (endpoints: string[]) => {
    const c = new Client({ endpoints, dialTimeoutMs: 1000 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    ({ members, root } = await startTrio("cli"));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const m of members) await m.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 30_000);

  test("a watch resumes on another member after its member is killed: every revision arrives once, in order", async () => {
    const endpoints = members.map((m) => m.endpoint);
    const watching = client(endpoints);
    const w = watching.watch("resume/", { prefix: true });
    await w.ready;
    const victim = members.find((m) => m.endpoint === w.endpoint)!;
    expect(victim).toBeDefined();
    const writer = client(endpoints.filter((e) => e !== victim.endpoint));

    // Each attempt writes a new key, so the store itself says which revisions exist afterwards
    // (an attempt that failed may still have been applied: it is counted through the store too).
    let attempt = 0;
    let succeeded = 0;
    const write = async () => {
      const key = `resume/${String(attempt++).padStart(4, "0")}`;
      try {
        await writer.put(key, "v", { timeoutMs: 3000 });
        succeeded++;
      } catch {
        await Bun.sleep(50);
      }
    };
    const deadline = Date.now() + 30_000;
    while (succeeded < 20) await write();
    await victim.stop("SIGKILL");
    while (succeeded < 60 && Date.now() < deadline) await write();
    // Then keep writing after the watch is back on a live member, so the resumed stream also carries
    // live events (not only the catch-up from history).
    while ((w.endpoint === null || w.endpoint === victim.endpoint) && Date.now() < deadline) await Bun.sleep(20);
    while (succeeded < 80 && Date.now() < deadline) await write();
    expect(succeeded).toBe(80);

    const stored = await writer.get("resume/", { prefix: true });
    const expected = stored.kvs.map((kv) => kv.modRevision).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(stored.kvs.every((kv) => kv.version === 1n)).toBe(true);
    const last = expected.at(-1)!;
    const seen = await collect(w, (s) => s.length > 0 && s.at(-1)!.revision >= last, 20_000);
    expect(seen.map((e) => e.revision)).toEqual(expected);
    expect(seen.every((e) => e.type === "put")).toBe(true);
    expect(w.endpoint).not.toBe(victim.endpoint);
    expect(w.endpoint).not.toBeNull();
    w.cancel();
  }, 60_000);

  test("with one member of three down, reads and writes still succeed (the dead endpoint first in the list)", async () => {
    const dead = members.find((m) => m.proc.exitCode !== null || m.proc.signalCode !== null)!;
    expect(dead).toBeDefined();
    const alive = members.filter((m) => m !== dead).map((m) => m.endpoint);
    const c = client([dead.endpoint, ...alive]);
    // A read rides through any election in progress (repeatable: retried on Unavailable).
    expect((await c.get("resume/", { prefix: true, countOnly: true })).count).toBeGreaterThan(0n);
    // A write whose endpoint refuses the connection never left: it fails over to a live one.
    const fresh = client([dead.endpoint, ...alive]);
    expect(fresh.endpoint).toBe(dead.endpoint);
    const p = await fresh.put("failover/k", "v");
    expect(p.header.revision).toBeGreaterThan(0n);
    expect(fresh.endpoint).not.toBe(dead.endpoint);
    expect((await c.get("failover/k")).kvs[0].value.toString()).toBe("v");
    // Keep-alive works against the surviving members too.
    const lease = await fresh.lease.grant(2);
    const ka = lease.keepAlive();
    await fresh.put("failover/leased", "v", { lease });
    await Bun.sleep(3000);
    expect(ka.active).toBe(true);
    expect((await c.get("failover/leased")).count).toBe(1n);
    ka.stop();
    await lease.revoke();
  }, 30_000);
});
