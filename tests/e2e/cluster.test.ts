// The tutorial's three-member static cluster on loopback ports, driven with the real etcdctl 3.4.
// What these tests check of the server's semantics alone runs in fake time in tests/integration
// (cluster-failover, cluster-watch-lease, cluster-membership, cluster-snapshot, cluster-corruption);
// here stays what needs the binary: its processes, kill -9, TCP peers, etcdctl's output, logs, HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, cleanup, ctl, etcdctl, freePort, haveEtcdctl, requireTool, startMember, trio, type Member } from "./harness.ts";

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

  // The binary's kill -9 and restart, once, of the leader (the harder case). Each member in turn,
  // a five-member cluster, and a lone survivor's errors: tests/integration/cluster-failover.test.ts.
  test("kill -9 of the leader: the cluster keeps serving on the other two, and the member catches up after its restart", async () => {
    const rows = ctl(endpoints(), ["endpoint", "status"]).trim().split("\n").map((l) => l.split(", "));
    const leaderEndpoint = rows.find((r) => r[4] === "true")![0];
    const victim = members.findIndex((m) => m?.endpoint === leaderEndpoint);
    expect(victim).toBeGreaterThanOrEqual(0);
    await members[victim]!.stop("SIGKILL");
    members[victim] = null;
    const survivor = live()[0];
    // The two elect a new leader (a write before that would wait out etcdctl's timeout on the dead one).
    let leaders = 0;
    for (let attempt = 0; attempt < 50 && leaders !== 1; attempt++) {
      if (attempt) await Bun.sleep(100);
      const r = etcdctl(endpoints(), ["endpoint", "status"]);
      leaders = r.stdout.trim().split("\n").filter((l) => l.split(", ")[4] === "true").length;
    }
    expect(leaders).toBe(1);
    // Writes and linearizable reads go on with two of three.
    let ok = false;
    for (let attempt = 0; attempt < 20 && !ok; attempt++) {
      ok = etcdctl(survivor, ["put", "k-failover", "v"]).status === 0;
      if (!ok) await Bun.sleep(250);
    }
    expect(ok).toBe(true);
    for (const m of live()) expect(ctl(m, ["get", "k-failover", "--print-value-only"])).toBe("v\n");
    // Restart from its data dir (initial-cluster flags are ignored then): it catches up.
    members[victim] = await start(victim);
    let seen = "";
    for (let attempt = 0; attempt < 40 && seen !== "v\n"; attempt++) {
      seen = etcdctl(members[victim]!, ["get", "k-failover", "--print-value-only", "--consistency=s"]).stdout;
      if (seen !== "v\n") await Bun.sleep(100);
    }
    expect(seen).toBe("v\n");
  }, 90_000);

  test("writes through followers leave nothing pending on them (etcd_server_proposals_pending back to 0)", async () => {
    for (const m of live()) for (let i = 0; i < 20; i++) ctl(m, ["put", `pending-${i}`, "v"]);
    for (const m of live()) {
      let pending = -1;
      for (let i = 0; i < 50 && pending !== 0; i++) {
        const text = await (await fetch(`${m.clientUrl}/metrics`)).text();
        pending = Number(/^etcd_server_proposals_pending (\S+)$/m.exec(text)![1]);
        if (pending !== 0) await Bun.sleep(50);
      }
      expect(pending).toBe(0);
    }
  });

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
      // URLs no member could dial are refused before they reach the log (they once stopped every member).
      const ownId = ctl(first, ["member", "list"]).split(",")[0];
      // (etcdctl checks the form itself; a port past 65535 passes Go's URL parser and reaches us.)
      const bad = "http://127.0.0.1:429991";
      const u = etcdctl(first, ["member", "update", ownId, `--peer-urls=${bad}`]);
      expect(u.stderr).toContain("etcdserver: given member URLs are invalid");
      const a = etcdctl(first, ["member", "add", "x", `--peer-urls=${bad}`]);
      expect(a.stderr).toContain("etcdserver: given member URLs are invalid");
      expect(ctl(first, ["get", "before", "--print-value-only"])).toBe("join\n");
      const added = ctl(first, ["member", "add", "b", `--peer-urls=${url(p2)}`, "--learner"]);
      // etcdctl prints ids with %16x: an id below 2^60 (ids mix in the time) is padded with spaces.
      const id = /Member +([0-9a-f]+) added to cluster/.exec(added)![1];
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
      expect(ctl(first, ["member", "promote", id])).toContain(`Member ${id.padStart(16)} promoted`);
      expect(ctl(first, ["member", "list"])).toContain(`${id}, started, b, ${url(p2)}, ${url(c2)}, false`);
      ctl(first, ["put", "after", "promote"]);
      expect(ctl(joiner, ["get", "after", "--print-value-only"])).toBe("promote\n");
      expect(ctl(first, ["member", "remove", id])).toContain(`Member ${id.padStart(16)} removed`);
      expect(ctl(first, ["member", "list"]).trim().split("\n")).toHaveLength(1);
      // The removed member shuts itself down, as etcd's does.
      const code = await Promise.race([joiner.stop("SIGCONT"), Bun.sleep(10_000).then(() => "still running")]);
      expect(code).not.toBe("still running");
      expect(joiner.logs()).toContain("permanently removed from the cluster");
      joiner = null;

      // A member replaced at the same address (the usual repair): the new one gets a new id, since the
      // removed id is refused for good, and learns it from its peers when it joins.
      const readded = ctl(first, ["member", "add", "b2", `--peer-urls=${url(p2)}`]);
      const id2 = /Member +([0-9a-f]+) added to cluster/.exec(readded)![1];
      expect(id2).not.toBe(id);
      joiner = await startMember({
        dataDir: join(root, "b2"),
        port: c2,
        peerPort: p2,
        args: ["--name", "b2", "--initial-advertise-peer-urls", url(p2), "--initial-cluster", `a=${url(p1)},b2=${url(p2)}`, "--initial-cluster-state", "existing"],
      });
      expect(ctl(joiner, ["get", "after", "--print-value-only"])).toBe("promote\n");
      expect(ctl(first, ["member", "list"])).toContain(`${id2}, started, b2, ${url(p2)}, ${url(c2)}, false`);
      await joiner.stop();
      joiner = null;

      // Joining without having been added: the error says what to do.
      const p3 = await freePort();
      const stray = Bun.spawnSync([BINARY, "--name", "c", "--data-dir", join(root, "c"), "--listen-client-urls", url(await freePort()), "--advertise-client-urls", url(await freePort()),
        "--listen-peer-urls", url(p3), "--initial-advertise-peer-urls", url(p3), "--initial-cluster", `a=${url(p1)},c=${url(p3)}`, "--initial-cluster-state", "existing"], { timeout: 20_000 });
      expect(stray.exitCode).not.toBe(0);
      expect(stray.stderr.toString()).toContain(`the cluster has no member with peer URLs ${url(p3)}`);
      expect(stray.stderr.toString()).toContain(`etcdctl member add c --peer-urls=${url(p3)}`);
    } finally {
      await joiner?.stop();
      await first?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.if(run)("catching up by snapshot", () => {
  // The binary's snapshot stream over TCP, its log lines and files. A kill -9 right after the install,
  // and falling behind again within the leader's 30 s reuse of its copy: tests/integration/cluster-snapshot.test.ts.
  test("a member stopped through more than --snapshot-count writes catches up from the leader's snapshot", async () => {
    const { root, names, start } = await trio("s", ["--snapshot-count", "50", "--max-snapshots", "2"]);
    const ms: (Member | null)[] = await Promise.all([0, 1, 2].map((i) => start(i)));
    try {
      ctl(ms[0]!, ["put", "k-first", "v"]);
      await ms[2]!.stop("SIGKILL");
      ms[2] = null;
      // 150 writes, three times --snapshot-count: the others checkpoint and compact their logs past
      // what s3 has (100 are enough, in tests/integration/cluster-snapshot.test.ts's fake time).
      const survivor = ms[0]!;
      // If s3 led, the first write waits for the new election (bounded retries, as a client would).
      let first = etcdctl(survivor, ["put", "k0", "v0"]);
      for (let attempt = 0; attempt < 20 && first.status !== 0; attempt++) {
        await Bun.sleep(250);
        first = etcdctl(survivor, ["put", "k0", "v0"]);
      }
      expect(first.status).toBe(0);
      for (let i = 1; i < 150; i++) ctl(survivor, ["put", `k${i}`, `v${i}`]);
      // Some bulk, so the database crosses several 1 MiB chunks on its way.
      const bulk = "x".repeat(200_000);
      for (let i = 0; i < 20; i++) ctl(survivor, ["put", `bulk${i}`], bulk);
      ms[2] = await start(2);
      let got = "";
      for (let attempt = 0; attempt < 50 && got !== "v149\n"; attempt++) {
        got = etcdctl(ms[2]!, ["get", "k149", "--print-value-only", "--consistency=s"]).stdout;
        if (got !== "v149\n") await Bun.sleep(100);
      }
      expect(got).toBe("v149\n");
      expect(ms[2]!.logs()).toContain("installed a snapshot from the leader");
      expect(ms[2]!.logs()).toContain("received database snapshot");
      expect(ms.some((m) => m!.logs().includes("sent database snapshot"))).toBe(true);
      expect(ctl(ms[2]!, ["get", "bulk19", "--print-value-only", "--consistency=s"])).toBe(`${bulk}\n`);
      // Raft snapshot files as etcd keeps them, no more than --max-snapshots; no transfer leftovers.
      const snapDir = join(root, names[0], "member", "snap");
      const files = readdirSync(snapDir);
      const snaps = files.filter((f) => /^[0-9a-f]{16}-[0-9a-f]{16}\.snap$/.test(f));
      expect(snaps.length).toBeGreaterThanOrEqual(1);
      expect(snaps.length).toBeLessThanOrEqual(2);
      expect(readdirSync(join(root, names[2], "member", "snap")).filter((f) => /^(received-|receiving-)/.test(f))).toEqual([]);
      expect(ctl(ms[2]!, ["get", "k-first", "--print-value-only", "--consistency=s"])).toBe("v\n");
      // Each member hashes at its own revision: the other follower may still be applying the last write.
      const eps = ms.map((m) => m!.endpoint).join(",");
      let hashes: string[] = [];
      for (let attempt = 0; attempt < 20 && new Set(hashes).size !== 1; attempt++) {
        if (attempt) await Bun.sleep(100);
        hashes = ctl(eps, ["endpoint", "hashkv"]).trim().split("\n").map((l) => l.split(", ")[1]);
      }
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

describe.if(run)("corruption check", () => {
  // etcdctl's alarm list and errors, /health and the log line. That healthy members pass check after
  // check, and the alarm's semantics: tests/integration/cluster-corruption.test.ts.
  test("a member whose history differs gets the CORRUPT alarm: writes stop cluster-wide with etcd's error, reads go on", async () => {
    const { root, names, start } = await trio("c", ["--experimental-corrupt-check-time", "1s"]);
    const ms: (Member | null)[] = await Promise.all([0, 1, 2].map((i) => start(i)));
    try {
      for (let i = 0; i < 10; i++) ctl(ms[0]!, ["put", `k${i}`, `v${i}`]);
      const victimId = /^([0-9a-f]+), started, c3,/m.exec(ctl(ms[0]!, ["member", "list"]))![1];
      expect(ctl(ms[0]!, ["alarm", "list"])).toBe("");
      // Damage one value in c3's database while it is stopped (a bit flip on its disk, say).
      await ms[2]!.stop();
      const db = new Database(join(root, "c3", "member", "snap", "db"));
      db.run("UPDATE hist SET value = ?1 WHERE id = (SELECT max(id) FROM hist WHERE key = ?2)", [new TextEncoder().encode("rotten"), new TextEncoder().encode("k3")]);
      db.close();
      ms[2] = await start(2, "live"); // /health turns false with the alarm, maybe before it is first asked
      let alarms = "";
      for (let i = 0; i < 100 && !alarms.includes("CORRUPT"); i++) {
        await Bun.sleep(100);
        alarms = ctl(ms[0]!, ["alarm", "list"]);
      }
      // The majority (c1, c2) agree, so c3 is the one named.
      expect(alarms).toBe(`memberID:${BigInt(`0x${victimId}`)} alarm:CORRUPT \n`);
      for (const m of ms) {
        const put = etcdctl(m!, ["put", "after", "x"]);
        expect(put.status).not.toBe(0);
        expect(put.stderr).toContain("etcdserver: corrupt cluster");
      }
      expect(etcdctl(ms[0]!, ["del", "k1"]).stderr).toContain("etcdserver: corrupt cluster");
      expect(ctl(ms[0]!, ["get", "k3", "--print-value-only"])).toBe("v3\n");
      expect(ctl(ms[2]!, ["get", "k3", "--print-value-only", "--consistency=s"])).toBe("rotten\n");
      const health = await fetch(`${ms[0]!.clientUrl}/health`);
      expect(((await health.json()) as { health: string }).health).toBe("false");
      expect(ms.some((m) => m!.logs().includes("found data inconsistency with peers"))).toBe(true);
    } finally {
      for (const m of ms) await m?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
