// The tutorial's three-member static cluster on loopback ports, driven with the real etcdctl 3.4.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, ctl, etcdctl, freePort, haveEtcdctl, requireTool, startMember, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

describe.if(run)("three-member cluster", () => {
  const names = ["niub1", "niub2", "niub3"];
  let root: string;
  let clientPorts: number[];
  let peerPorts: number[];
  let members: (Member | null)[];

  const argsFor = (i: number) => {
    const cluster = names.map((n, j) => `${n}=http://127.0.0.1:${peerPorts[j]}`).join(",");
    // The tutorial's flags, single-dash as it writes them.
    return [
      "-name", names[i],
      "-initial-advertise-peer-urls", `http://127.0.0.1:${peerPorts[i]}`,
      "-initial-cluster-token", "etcd-cluster-1",
      "-initial-cluster", cluster,
      "-initial-cluster-state", "new",
    ];
  };
  const start = (i: number) =>
    startMember({ dataDir: join(root, names[i]), port: clientPorts[i], peerPort: peerPorts[i], args: argsFor(i) });
  const live = () => members.filter((m): m is Member => m !== null);
  const endpoints = () => live().map((m) => m.endpoint).join(",");

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "cluster-"));
    clientPorts = [await freePort(), await freePort(), await freePort()];
    peerPorts = [await freePort(), await freePort(), await freePort()];
    // All three start together: none is ready before a quorum exists.
    members = await Promise.all([0, 1, 2].map(start));
  }, 60_000);

  afterAll(async () => {
    for (const m of members ?? []) await m?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("member list shows the three members with their names and URLs", () => {
    const lines = ctl(live()[0], ["member", "list"]).trim().split("\n").sort();
    expect(lines).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const line = lines.find((l) => l.includes(`, ${names[i]}, `));
      expect(line).toBe(
        `${line!.split(",")[0]}, started, ${names[i]}, http://127.0.0.1:${peerPorts[i]}, http://127.0.0.1:${clientPorts[i]}, false`,
      );
    }
  });

  test("a write on one member is read on every other, linearizably", () => {
    expect(ctl(members[0]!, ["put", "foo", "bar"])).toBe("OK\n");
    for (const m of live()) expect(ctl(m, ["get", "foo", "--print-value-only"])).toBe("bar\n");
  });

  test("endpoint status: one leader, same raft index everywhere; hashes agree", async () => {
    // Right after forming, a member may still be catching up on who won: wait for agreement (bounded).
    let leaders = 0;
    let indexes = new Set<string>();
    let rows: string[][] = [];
    for (let attempt = 0; attempt < 30 && (leaders !== 1 || indexes.size !== 1); attempt++) {
      if (attempt) await Bun.sleep(200);
      rows = ctl(endpoints(), ["endpoint", "status"]).trim().split("\n").map((l) => l.split(", "));
      leaders = rows.filter((r) => r[4] === "true").length;
      indexes = new Set(rows.map((r) => r[7]));
    }
    expect({ leaders, indexes: indexes.size, rows }).toEqual({ leaders: 1, indexes: 1, rows });
    // --cluster finds every member's client URL through the member list.
    expect(ctl(members[0]!, ["endpoint", "status", "--cluster"]).trim().split("\n")).toHaveLength(3);
    const hashes = ctl(endpoints(), ["endpoint", "hashkv"]).trim().split("\n").map((l) => l.split(", ")[1]);
    expect(new Set(hashes).size).toBe(1);
  });

  test("the cluster keeps serving while any one member is down, and the member catches up after", async () => {
    for (let victim = 0; victim < 3; victim++) {
      await members[victim]!.stop("SIGKILL");
      members[victim] = null;
      const survivor = live()[0];
      // Writes and linearizable reads go on with two of three (after an election if the leader died).
      let ok = false;
      for (let attempt = 0; attempt < 20 && !ok; attempt++) {
        ok = etcdctl(survivor, ["put", `k${victim}`, `v${victim}`]).status === 0;
        if (!ok) await Bun.sleep(250);
      }
      expect(ok).toBe(true);
      for (const m of live()) expect(ctl(m, ["get", `k${victim}`, "--print-value-only"])).toBe(`v${victim}\n`);
      // Restart from its data dir (initial-cluster flags are ignored then): it catches up.
      members[victim] = await start(victim);
      let seen = "";
      for (let attempt = 0; attempt < 40 && seen !== `v${victim}\n`; attempt++) {
        seen = etcdctl(members[victim]!, ["get", `k${victim}`, "--print-value-only", "--consistency=s"]).stdout;
        if (seen !== `v${victim}\n`) await Bun.sleep(100);
      }
      expect(seen).toBe(`v${victim}\n`);
    }
  }, 90_000);

  test("curl-style /health is true on every member", async () => {
    for (const m of live()) expect(await (await fetch(`${m.clientUrl}/health`)).json()).toEqual({ health: "true", reason: "" });
  });

  test("move-leader hands leadership to the member named", async () => {
    const rows = ctl(endpoints(), ["endpoint", "status"]).trim().split("\n").map((l) => l.split(", "));
    const from = rows.find((r) => r[4] === "true")![1];
    const to = rows.find((r) => r[4] !== "true")![1];
    expect(ctl(endpoints(), ["move-leader", to])).toBe(`Leadership transferred from ${from} to ${to}\n`);
    const after = ctl(endpoints(), ["endpoint", "status"]).trim().split("\n").map((l) => l.split(", "));
    expect(after.filter((r) => r[4] === "true").map((r) => r[1])).toEqual([to]);
  }, 30_000);

  test("without a quorum a linearizable read fails with etcd's error, never a stale answer; serializable still answers", async () => {
    await members[1]!.stop("SIGKILL");
    await members[2]!.stop("SIGKILL");
    members[1] = members[2] = null;
    const alone = members[0]!;
    const r = etcdctl(alone, ["get", "foo", "--print-value-only"]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/etcdserver: (no leader|request timed out)/);
    expect(ctl(alone, ["get", "foo", "--print-value-only", "--consistency=s"])).toBe("bar\n");
    const w = etcdctl(alone, ["put", "foo", "lost?"]);
    expect(w.status).not.toBe(0);
    expect(w.stderr).toMatch(/etcdserver: (no leader|request timed out)/);
  }, 60_000);
});

describe.if(run)("membership changes with etcdctl", () => {
  test("member add --learner, join with --initial-cluster-state existing, promote, remove", async () => {
    const root = mkdtempSync(join(tmpdir(), "join-"));
    const [c1, c2, p1, p2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const url = (p: number) => `http://127.0.0.1:${p}`;
    let first: Member | null = null;
    let joiner: Member | null = null;
    try {
      first = await startMember({ dataDir: join(root, "a"), port: c1, peerPort: p1, args: ["--name", "a", "--initial-advertise-peer-urls", url(p1), "--initial-cluster", `a=${url(p1)}`] });
      ctl(first, ["put", "before", "join"]);
      const added = ctl(first, ["member", "add", "b", `--peer-urls=${url(p2)}`, "--learner"]);
      const id = /Member ([0-9a-f]+) added to cluster/.exec(added)![1];
      expect(added).toContain(`ETCD_INITIAL_CLUSTER_STATE="existing"`);
      joiner = await startMember({
        dataDir: join(root, "b"),
        port: c2,
        peerPort: p2,
        args: ["--name", "b", "--initial-advertise-peer-urls", url(p2), "--initial-cluster", `a=${url(p1)},b=${url(p2)}`, "--initial-cluster-state", "existing"],
      });
      // The learner caught up from the log, published its name, and serves serializable reads.
      expect(ctl(joiner, ["get", "before", "--print-value-only", "--consistency=s"])).toBe("join\n");
      expect(ctl(first, ["member", "list"])).toContain(`${id}, started, b, ${url(p2)}, ${url(c2)}, true`);
      expect(ctl(first, ["member", "promote", id])).toContain(`Member ${id} promoted`);
      expect(ctl(first, ["member", "list"])).toContain(`${id}, started, b, ${url(p2)}, ${url(c2)}, false`);
      ctl(first, ["put", "after", "promote"]);
      expect(ctl(joiner, ["get", "after", "--print-value-only"])).toBe("promote\n");
      expect(ctl(first, ["member", "remove", id])).toContain(`Member ${id} removed`);
      expect(ctl(first, ["member", "list"]).trim().split("\n")).toHaveLength(1);
      // The removed member shuts itself down, as etcd's does.
      const code = await Promise.race([joiner.stop("SIGCONT"), Bun.sleep(10_000).then(() => "still running")]);
      expect(code).not.toBe("still running");
      expect(joiner.logs()).toContain("permanently removed from the cluster");
      joiner = null;
    } finally {
      await joiner?.stop();
      await first?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.if(run)("catching up by snapshot", () => {
  test("a member stopped through more than --snapshot-count writes catches up from the leader's snapshot", async () => {
    const root = mkdtempSync(join(tmpdir(), "snapcatch-"));
    const names = ["s1", "s2", "s3"];
    const clients = [await freePort(), await freePort(), await freePort()];
    const peers = [await freePort(), await freePort(), await freePort()];
    const cluster = names.map((n, j) => `${n}=http://127.0.0.1:${peers[j]}`).join(",");
    const start = (i: number) =>
      startMember({
        dataDir: join(root, names[i]),
        port: clients[i],
        peerPort: peers[i],
        args: ["--name", names[i], "--initial-advertise-peer-urls", `http://127.0.0.1:${peers[i]}`, "--initial-cluster", cluster, "--snapshot-count", "50"],
      });
    const ms: (Member | null)[] = await Promise.all([0, 1, 2].map(start));
    try {
      ctl(ms[0]!, ["put", "k-first", "v"]);
      await ms[2]!.stop("SIGKILL");
      ms[2] = null;
      // 300 writes: the others checkpoint and compact their logs past what s3 has.
      const survivor = ms[0]!;
      // If s3 led, the first write waits for the new election (bounded retries, as a client would).
      let first = etcdctl(survivor, ["put", "k0", "v0"]);
      for (let attempt = 0; attempt < 20 && first.status !== 0; attempt++) {
        await Bun.sleep(250);
        first = etcdctl(survivor, ["put", "k0", "v0"]);
      }
      expect(first.status).toBe(0);
      for (let i = 1; i < 300; i++) ctl(survivor, ["put", `k${i}`, `v${i}`]);
      ms[2] = await start(2);
      let got = "";
      for (let attempt = 0; attempt < 50 && got !== "v299\n"; attempt++) {
        got = etcdctl(ms[2]!, ["get", "k299", "--print-value-only", "--consistency=s"]).stdout;
        if (got !== "v299\n") await Bun.sleep(100);
      }
      expect(got).toBe("v299\n");
      expect(ms[2]!.logs()).toContain("installed a snapshot from the leader");
      expect(ctl(ms[2]!, ["get", "k-first", "--print-value-only", "--consistency=s"])).toBe("v\n");
      // It restarts from the installed database plus the WAL written since (kill -9, no clean stop).
      await ms[2]!.stop("SIGKILL");
      ms[2] = await start(2);
      expect(ctl(ms[2]!, ["get", "k299", "--print-value-only", "--consistency=s"])).toBe("v299\n");
      const eps = ms.map((m) => m!.endpoint).join(",");
      const hashes = ctl(eps, ["endpoint", "hashkv"]).trim().split("\n").map((l) => l.split(", ")[1]);
      expect(new Set(hashes).size).toBe(1);
    } finally {
      for (const m of ms) await m?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 90_000);
});

describe.if(run)("--strict-reconfig-check", () => {
  test("adding a voter is refused while too few voters have started", async () => {
    const [c1, p1, p2, p3] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const url = (p: number) => `http://127.0.0.1:${p}`;
    const m = await startMember({ port: c1, peerPort: p1, args: ["--name", "a", "--initial-advertise-peer-urls", url(p1), "--initial-cluster", `a=${url(p1)}`] });
    try {
      // A lone member may add its second voter (etcd's exception)...
      expect(ctl(m, ["member", "add", "b", `--peer-urls=${url(p2)}`])).toContain("added to cluster");
      // ...but with b not started, a third would leave 1 started voter of 3.
      const r = etcdctl(m, ["member", "add", "c", `--peer-urls=${url(p3)}`]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain("etcdserver: re-configuration failed due to not enough started members");
    } finally {
      await m.stop("SIGKILL");
      cleanup(m);
    }
  }, 30_000);
});
