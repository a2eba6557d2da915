// Watch, Lease, Lock and Election as etcd users drive them: the real etcdctl 3.4 (watch, lease,
// lock, elect) and the npm etcd3 client, on a single member. ETCD_TS_TARGET=etcd runs the same tests
// against the real etcd 3.4, which is how these expectations were checked. Lease lifetimes that take
// seconds to watch (a restart's fresh TTL, keep-alive past the TTL) run in fake time in
// tests/integration/lease.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { Etcd3 } from "etcd3";
import { ctl, etcdctl, haveEtcdctl, haveEtcdServer, requireTool, suiteMember, type Member } from "./harness.ts";

const againstEtcd = process.env.ETCD_TS_TARGET === "etcd";
const run = requireTool("etcdctl", haveEtcdctl()) && (!againstEtcd || requireTool("etcd", haveEtcdServer()));

/** A long-running etcdctl (watch, keep-alive, lock, elect) whose output is read as it comes. */
class Background {
  readonly proc: ChildProcess;
  out = "";
  err = "";
  readonly exited: Promise<number | null>;

  constructor(m: Member, args: string[]) {
    this.proc = spawn("etcdctl", ["--endpoints", m.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: "3" }, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.on("data", (d) => (this.out += d));
    this.proc.stderr!.on("data", (d) => (this.err += d));
    this.exited = new Promise((r) => this.proc.once("exit", (code) => r(code)));
  }

  /** Waits (bounded) until the output satisfies cond. */
  async until(what: string, cond: (out: string) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond(this.out)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${this.out}\nstderr:\n${this.err}`);
      await Bun.sleep(20);
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }
}

describe.if(run)("watch, lease, lock and election through etcdctl", () => {
  const suite = suiteMember(againstEtcd);
  const bg: Background[] = [];
  const background = (args: string[]) => {
    const b = new Background(suite.m, args);
    bg.push(b);
    return b;
  };
  afterAll(async () => {
    for (const b of bg) await b.stop("SIGKILL");
  });

  /** A watch is registered once etcdctl's first request is answered; a marker write proves it. */
  async function watching(b: Background, markerKey: string): Promise<void> {
    for (let i = 0; i < 100 && !b.out.includes(markerKey); i++) {
      ctl(suite.m, ["put", markerKey, "marker"]);
      await Bun.sleep(50);
    }
    await b.until(`the watch on ${markerKey}`, (o) => o.includes(markerKey));
    b.out = "";
  }

  test("watch sees PUT and DELETE made by another client", async () => {
    const w = background(["watch", "w-foo"]);
    await watching(w, "w-foo");
    ctl(suite.m, ["put", "w-foo", "bar"]);
    ctl(suite.m, ["del", "w-foo"]);
    await w.until("put and delete", (o) => o.includes("DELETE"));
    expect(w.out).toBe("PUT\nw-foo\nbar\nDELETE\nw-foo\n\n");
    await w.stop();
  });

  test("range watch [fo0, fo3) sees fo0, fo1, fo2 and fo2.5, not fo3", async () => {
    const w = background(["watch", "fo0", "fo3"]);
    await watching(w, "fo0");
    for (const k of ["fo0", "fo1", "fo2", "fo2.5", "fo3", "fo4"]) ctl(suite.m, ["put", k, `v-${k}`]);
    ctl(suite.m, ["put", "fo2.9", "last"]);
    await w.until("the last event", (o) => o.includes("fo2.9"));
    expect(w.out).toBe(["fo0", "fo1", "fo2", "fo2.5", "fo2.9"].map((k) => `PUT\n${k}\n${k === "fo2.9" ? "last" : `v-${k}`}\n`).join(""));
    await w.stop();
  });

  test("watch --prefix, and watch --rev replays history from that revision", async () => {
    const first = JSON.parse(ctl(suite.m, ["put", "hist/a", "1", "-w", "json"])).header.revision as number;
    ctl(suite.m, ["put", "hist/b", "2"]);
    ctl(suite.m, ["del", "hist/a"]);
    const replay = background(["watch", "--prefix", "hist/", `--rev=${first}`]);
    await replay.until("the replayed history", (o) => o.includes("DELETE"));
    expect(replay.out).toBe("PUT\nhist/a\n1\nPUT\nhist/b\n2\nDELETE\nhist/a\n\n");
    ctl(suite.m, ["put", "hist/c", "3"]);
    ctl(suite.m, ["put", "other", "x"]);
    await replay.until("a live event after the replay", (o) => o.includes("hist/c"));
    expect(replay.out.endsWith("PUT\nhist/c\n3\n")).toBe(true);
    await replay.stop();
  });

  test("watch from a compacted revision is refused with the compact revision", async () => {
    const rev = JSON.parse(ctl(suite.m, ["put", "cmp", "1", "-w", "json"])).header.revision as number;
    ctl(suite.m, ["put", "cmp", "2"]);
    const now = JSON.parse(ctl(suite.m, ["put", "cmp", "3", "-w", "json"])).header.revision as number;
    ctl(suite.m, ["compaction", String(now)]);
    const w = etcdctl(suite.m, ["watch", "cmp", `--rev=${rev}`]);
    expect(w.stderr).toContain("watch was canceled (etcdserver: mvcc: required revision has been compacted)");
    expect(w.status).not.toBe(0);
  });

  test("lease grant, put --lease, timetolive --keys, list, revoke deletes the key", () => {
    const granted = ctl(suite.m, ["lease", "grant", "60"]);
    const id = /lease ([0-9a-f]+) granted with TTL\(60s\)/.exec(granted)![1];
    ctl(suite.m, ["put", "leased", "v", `--lease=${id}`]);
    const ttl = ctl(suite.m, ["lease", "timetolive", id, "--keys"]);
    expect(ttl).toMatch(new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[leased\\]\\)\\n$`));
    expect(ctl(suite.m, ["lease", "list"])).toContain(id);
    expect(ctl(suite.m, ["lease", "revoke", id])).toBe(`lease ${id} revoked\n`);
    expect(ctl(suite.m, ["get", "leased"])).toBe("");
    const gone = etcdctl(suite.m, ["lease", "revoke", id]);
    expect(gone.stderr).toContain("etcdserver: requested lease not found");
    expect(etcdctl(suite.m, ["put", "x", "y", `--lease=${id}`]).stderr).toContain("etcdserver: requested lease not found");
  });

  test("a short lease expires and takes its key with it", async () => {
    const id = /lease ([0-9a-f]+) granted/.exec(ctl(suite.m, ["lease", "grant", "1"]))![1];
    ctl(suite.m, ["put", "ephemeral", "v", `--lease=${id}`]);
    expect(ctl(suite.m, ["get", "ephemeral", "--print-value-only"])).toBe("v\n");
    let value = "v\n";
    const deadline = Date.now() + 5000;
    while (value !== "" && Date.now() < deadline) {
      await Bun.sleep(100);
      value = ctl(suite.m, ["get", "ephemeral", "--print-value-only"]);
    }
    expect(value).toBe("");
    expect(ctl(suite.m, ["lease", "timetolive", id])).toBe(`lease ${id} already expired\n`);
  }, 15_000);

  // That keep-alives keep a key past its TTL (and its expiry after the last one) is checked in fake
  // time by tests/integration/lease.test.ts; here, etcdctl's keep-alive stream and its output.
  test("keep-alive renews over one stream, printing each renewal; --once renews once", async () => {
    const id = /lease ([0-9a-f]+) granted/.exec(ctl(suite.m, ["lease", "grant", "2"]))![1];
    ctl(suite.m, ["put", "kept", "v", `--lease=${id}`]);
    const k = background(["lease", "keep-alive", id]);
    const line = `lease ${id} keepalived with TTL(2)\n`;
    // etcdctl renews every TTL/3: three renewals on the stream take about 1.3 s, less than the TTL.
    await k.until("three keep-alives", (o) => o.split(line).length - 1 >= 3);
    expect(k.out.startsWith(line.repeat(3))).toBe(true);
    expect(ctl(suite.m, ["get", "kept", "--print-value-only"])).toBe("v\n");
    await k.stop();
    expect(ctl(suite.m, ["lease", "keep-alive", "--once", id])).toBe(line);
  }, 20_000);

  test("lock: two contenders run one after the other", async () => {
    const script = (name: string) => ["lock", "the-lock", "--", "sh", "-c", `echo ${name} in; sleep 1; echo ${name} out`];
    const a = background(script("a"));
    await a.until("the first holder", (o) => o.includes("a in"));
    const b = background(script("b"));
    await Promise.all([a.exited, b.exited]);
    const lines = [a.out, b.out].map((o) => o.split("\n").filter((l) => / (in|out)$/.test(l)));
    expect(lines).toEqual([["a in", "a out"], ["b in", "b out"]]);
    // b got the lock only after a let it go: its "in" came after a's "out" (a took a second).
    expect(ctl(suite.m, ["get", "the-lock", "--prefix", "--keys-only"])).toBe("");
  }, 20_000);

  test("elect: the second candidate becomes leader when the first resigns", async () => {
    const first = background(["elect", "the-election", "p1"]);
    await first.until("p1 elected", (o) => o.includes("p1"));
    const second = background(["elect", "the-election", "p2"]);
    const observer = background(["elect", "-l", "the-election"]);
    await observer.until("the observer sees p1", (o) => o.includes("p1"));
    await Bun.sleep(500);
    expect(second.out).toBe("");
    await first.stop("SIGINT"); // etcdctl resigns on interrupt
    await second.until("p2 elected", (o) => o.includes("p2"));
    await observer.until("the observer sees p2", (o) => o.includes("p2"));
  }, 20_000);
});

describe.if(run)("watch and lease through the npm etcd3 client", () => {
  const suite = suiteMember(againstEtcd);
  let client: Etcd3;
  beforeAll(() => {
    client = new Etcd3({ hosts: suite.m.endpoint, dialTimeout: 3000 });
  });
  afterAll(() => client?.close());

  test("a watcher on a prefix gets puts and deletes with prev_kv", async () => {
    const w = await client.watch().prefix("svc/").withPreviousKV().create();
    const seen: string[] = [];
    w.on("put", (kv, prev) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()} prev=${prev?.value.toString() ?? "-"}`));
    w.on("delete", (kv, prev) => seen.push(`delete ${kv.key.toString()} prev=${prev?.value.toString() ?? "-"}`));
    await client.put("svc/a").value("1");
    await client.put("svc/a").value("2");
    await client.delete().key("svc/a");
    await client.put("other").value("x");
    for (let i = 0; i < 100 && seen.length < 3; i++) await Bun.sleep(20);
    expect(seen).toEqual(["put svc/a=1 prev=-", "put svc/a=2 prev=1", "delete svc/a prev=2"]);
    await w.cancel();
  });

  test("service registration: a key under a lease with keep-alive stays; revoking the lease removes it", async () => {
    const lease = client.lease(2);
    await lease.put("svc/instance-1").value("10.0.0.1:8080");
    await Bun.sleep(3500);
    expect(await client.get("svc/instance-1").string()).toBe("10.0.0.1:8080");
    await lease.revoke();
    expect(await client.get("svc/instance-1").string()).toBeNull();
  }, 15_000);

  test("a mutex serialises critical sections", async () => {
    let inside = 0;
    let max = 0;
    const worker = async () => {
      // etcd3's lock does not wait for the holder: it fails, and the caller tries again.
      const lock = client.lock("counter-lock");
      for (let tries = 0; ; tries++) {
        try {
          await lock.acquire();
          break;
        } catch (e) {
          if (tries > 100) throw e;
          await Bun.sleep(20);
        }
      }
      inside++;
      max = Math.max(max, inside);
      await Bun.sleep(100);
      inside--;
      await lock.release();
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(max).toBe(1);
  }, 20_000);
});
