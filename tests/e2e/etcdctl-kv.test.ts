// The tutorial's etcdctl KV session against dist/etcd with the real etcdctl 3.4, compared line for line
// with the real etcd 3.4 running the same session.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, ctl, etcdctl, haveEtcdctl, haveEtcdServer, parseJsonExact, requireTool, startMember, startRealEtcd, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());
const runDiff = run && requireTool("etcd (etcd-server)", haveEtcdServer());

describe.if(run)("etcdctl KV commands", () => {
  let m: Member;
  beforeAll(async () => {
    m = await startMember();
  });
  afterAll(async () => {
    await m?.stop();
    if (m) cleanup(m);
  });

  test("put then get, with -w json fields exactly as etcd writes them", () => {
    expect(ctl(m, ["put", "foo", "bar"])).toBe("OK\n");
    expect(ctl(m, ["get", "foo"])).toBe("foo\nbar\n");
    const j = parseJsonExact(ctl(m, ["get", "foo", "-w", "json"]));
    expect(j.header).toEqual({ cluster_id: "14841639068965178418", member_id: "10276657743932975437", revision: 2, raft_term: 2 });
    expect(j.kvs).toEqual([{ key: "Zm9v", create_revision: 2, mod_revision: 2, version: 1, value: "YmFy" }]);
    expect(j.count).toBe(1);
  });

  test("get --rev reads history", () => {
    ctl(m, ["put", "foo", "bar2"]);
    expect(ctl(m, ["get", "foo", "--rev=2"])).toBe("foo\nbar\n");
    expect(ctl(m, ["get", "foo"])).toBe("foo\nbar2\n");
  });

  test("prefix, keys-only, limit, sort-by, from-key", () => {
    for (const k of ["b1", "b2", "b3"]) ctl(m, ["put", k, `v${k}`]);
    expect(ctl(m, ["get", "b", "--prefix"])).toBe("b1\nvb1\nb2\nvb2\nb3\nvb3\n");
    expect(ctl(m, ["get", "b", "--prefix", "--keys-only"])).toBe("b1\n\nb2\n\nb3\n\n");
    expect(ctl(m, ["get", "b", "--prefix", "--limit=2"])).toBe("b1\nvb1\nb2\nvb2\n");
    expect(ctl(m, ["get", "b", "--prefix", "--sort-by=KEY", "--order=DESCEND", "--keys-only"])).toBe("b3\n\nb2\n\nb1\n\n");
    expect(ctl(m, ["get", "b2", "--from-key", "--keys-only"])).toBe("b2\n\nb3\n\nfoo\n\n");
    const j = parseJsonExact(ctl(m, ["get", "b", "--prefix", "--limit=1", "-w", "json"]));
    expect(j.more).toBe(true);
    expect(j.count).toBe(3);
  });

  test("del with --prev-kv and --prefix", () => {
    expect(ctl(m, ["del", "b1", "--prev-kv"])).toBe("1\nb1\nvb1\n");
    expect(ctl(m, ["del", "b", "--prefix"])).toBe("2\n");
    expect(ctl(m, ["del", "nothing"])).toBe("0\n");
  });

  test("txn from stdin takes the success or failure branch", () => {
    ctl(m, ["put", "user1", "zhangsan"]);
    const script = 'value("user1") = "zhangsan"\n\nput user1 lisi\n\nput user1 wangwu\n\n';
    expect(ctl(m, ["txn"], script)).toBe("SUCCESS\n\nOK\n");
    expect(ctl(m, ["get", "user1", "--print-value-only"])).toBe("lisi\n");
    expect(ctl(m, ["txn"], script)).toBe("FAILURE\n\nOK\n");
    expect(ctl(m, ["get", "user1", "--print-value-only"])).toBe("wangwu\n");
  });

  test("compaction, then reading a compacted revision fails with etcd's error", () => {
    const rev = parseJsonExact(ctl(m, ["get", "foo", "-w", "json"])).header.revision;
    expect(ctl(m, ["compaction", String(rev)])).toBe(`compacted revision ${rev}\n`);
    const r = etcdctl(m, ["get", "foo", "--rev=2"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("etcdserver: mvcc: required revision has been compacted");
    const f = etcdctl(m, ["get", "foo", "--rev=99999"]);
    expect(f.stderr).toContain("etcdserver: mvcc: required revision is a future revision");
  });

  test("defrag, endpoint status and health, member list", () => {
    expect(ctl(m, ["defrag"])).toBe(`Finished defragmenting etcd member[${m.endpoint}]\n`);
    const status = ctl(m, ["endpoint", "status"]).trim().split(", ");
    expect(status[0]).toBe(m.endpoint);
    expect(status[1]).toBe("8e9e05c52164694d");
    expect(status[2]).toBe("3.5.0");
    expect(status[4]).toBe("true"); // leader
    expect(status[5]).toBe("false"); // learner
    // etcdctl 3.4 prints the health line on stderr.
    expect(etcdctl(m, ["endpoint", "health"]).stderr).toMatch(new RegExp(`^${m.endpoint.replace(/\./g, "\\.")} is healthy: successfully committed proposal: took = .+\n$`));
    expect(ctl(m, ["member", "list"])).toBe(`8e9e05c52164694d, started, default, http://localhost:2380, ${m.clientUrl}, false\n`);
  });
});

describe.if(run)("etcdctl snapshot save", () => {
  test("streams the whole database, ending with its sha256 as etcd's stream does", async () => {
    const m = await startMember();
    const dir = mkdtempSync(join(tmpdir(), "snapsave-"));
    try {
      for (let i = 0; i < 20; i++) ctl(m, ["put", `s${i}`, `v${i}`]);
      const file = join(dir, "snap.db");
      const r = etcdctl(m, ["snapshot", "save", file]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`Snapshot saved at ${file}\n`);
      const bytes = readFileSync(file);
      const body = bytes.subarray(0, bytes.length - 32);
      expect(createHash("sha256").update(body).digest().equals(bytes.subarray(bytes.length - 32))).toBe(true);
      // The body is etcd's bbolt layout: etcdctl's own status reads it (its revision, its keys).
      const status = parseJsonExact(ctl(m, ["snapshot", "status", file, "-w", "json"]));
      expect(status.revision).toBe(21);
      expect(status.totalKey).toBeGreaterThanOrEqual(20);
    } finally {
      await m.stop();
      cleanup(m);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A session of deterministic etcdctl commands: ours must print exactly what etcd prints. */
const SESSION: { args: string[]; input?: string }[] = [
  { args: ["put", "foo", "bar"] },
  { args: ["get", "foo", "-w", "json"] },
  { args: ["put", "foo", "baz", "--prev-kv", "-w", "json"] },
  { args: ["put", "a/1", "x"] },
  { args: ["put", "a/2", "yy"] },
  { args: ["put", "a/3", "z"] },
  { args: ["put", "a/2", "yyy"] },
  { args: ["get", "a/", "--prefix", "-w", "json"] },
  { args: ["get", "a/", "--prefix", "--sort-by=VALUE", "--order=DESCEND"] },
  { args: ["get", "a/", "--prefix", "--sort-by=MODIFY", "-w", "json"] },
  { args: ["get", "a/", "--prefix", "--sort-by=VERSION", "--order=ASCEND", "--limit=2", "-w", "json"] },
  { args: ["get", "a/", "--prefix", "--sort-by=CREATE", "--order=DESCEND", "--keys-only"] },
  { args: ["get", "a/", "--prefix", "--count-only", "-w", "json"] },
  { args: ["get", "a/1", "a/3", "-w", "json"] },
  { args: ["get", "", "--from-key", "--limit=2", "-w", "json"] },
  { args: ["get", "a/2", "--rev=6", "-w", "json"] },
  { args: ["get", "a/", "--prefix", "--rev=4", "-w", "fields"] },
  { args: ["get", "missing", "-w", "json"] },
  { args: ["txn", "-w", "json"], input: 'mod("a/1") > "0"\nversion("a/2") = "2"\n\nput a/1 changed\nget a/2\ndel a/3\n\nput never happens\n\n' },
  { args: ["txn", "-w", "json"], input: 'create("nope") > "0"\n\nput x y\n\nget a/ --prefix\nput fail-branch 1\n\n' },
  { args: ["txn", "-w", "json"], input: 'value("a/2") = "yyy"\nversion("a/2") = "2"\n\n\n\n' },
  { args: ["del", "a/", "--prefix", "--prev-kv", "-w", "json"] },
  { args: ["get", "a/", "--prefix", "--rev=7", "-w", "json"] },
  { args: ["compaction", "5"] },
  { args: ["get", "foo", "--rev=4"] },
  { args: ["get", "foo", "--rev=5", "-w", "json"] },
  { args: ["compaction", "3"] },
  { args: ["put", "", "empty-key"] },
  { args: ["get", "foo", "--rev=1000"] },
  { args: ["member", "list", "-w", "json"] },
];

describe.if(runDiff)("differential: the same etcdctl session against etcd 3.4 and etcd-ts", () => {
  test("every command prints the same output and exit status", async () => {
    // Same initial-advertise-peer-urls and token: same member and cluster ids as the real etcd.
    const ours = await startMember();
    const real = await startRealEtcd();
    try {
      const normalize = (text: string, who: Member) =>
        text.replaceAll(who.clientUrl, "CLIENT_URL").replaceAll(who.endpoint, "ENDPOINT").replace(/"raft_term":\d+/g, '"raft_term":T');
      for (const step of SESSION) {
        const a = etcdctl(real, step.args, step.input);
        const b = etcdctl(ours, step.args, step.input);
        const label = `etcdctl ${step.args.join(" ")}`;
        expect({ label, status: b.status, stdout: normalize(b.stdout, ours) }).toEqual({ label, status: a.status, stdout: normalize(a.stdout, real) });
        expect({ label, stderr: normalize(b.stderr, ours).replace(/\{"level".*\n/g, "") }).toEqual({ label, stderr: normalize(a.stderr, real).replace(/\{"level".*\n/g, "") });
      }
    } finally {
      await ours.stop();
      await real.stop();
      cleanup(ours);
      cleanup(real);
    }
  }, 60_000);
});
