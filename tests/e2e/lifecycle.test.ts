// A member's life as etcd's (issue 13): listeners before the data dir, a locked data dir, clients served
// only once the member is ready, etcd's log lines along the way, and a removed member that exits 0.
// Real etcdctl 3.4 against the compiled binary.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, ctl, etcdctl, freePort, haveEtcdctl, requireTool, serverEnv, startMember, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());
const root = mkdtempSync(join(tmpdir(), "lifecycle-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const url = (port: number) => `http://127.0.0.1:${port}`;

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The server's zap-style JSON lines (anything else on its output is ignored). */
function logLines(text: string): LogLine[] {
  return text.split("\n").flatMap((l) => {
    try {
      const v = JSON.parse(l);
      return v && typeof v.msg === "string" ? [v as LogLine] : [];
    } catch {
      return [];
    }
  });
}

function indexOfMsg(lines: LogLine[], msg: string): number {
  return lines.findIndex((l) => l.msg === msg);
}

/** One etcdctl call with short timeouts: for a port that may hold the connection unanswered. */
function quickCtl(endpoint: string, args: string[]) {
  return spawnSync("etcdctl", ["--endpoints", endpoint, "--dial-timeout", "1s", "--command-timeout", "1s", ...args], {
    encoding: "utf8",
    env: { ...process.env, ETCDCTL_API: "3" },
    timeout: 10_000,
  });
}

function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

async function exitCodeOf(m: Member, withinMs: number): Promise<number | null | "still running"> {
  if (m.proc.exitCode !== null) return m.proc.exitCode;
  return Promise.race([new Promise<number | null>((r) => m.proc.once("exit", (code) => r(code))), Bun.sleep(withinMs).then(() => "still running" as const)]);
}

describe.if(run)("the data directory", () => {
  test("a second server on a data dir in use is refused with the path and the holder's PID; the first keeps serving", async () => {
    const first = await startMember({ dataDir: join(root, "locked") });
    try {
      ctl(first, ["put", "owner", "first"]);
      const [c, p] = [await freePort(), await freePort()];
      const second = spawnSync(
        BINARY,
        ["--data-dir", first.dataDir, "--listen-client-urls", url(c), "--advertise-client-urls", url(c), "--listen-peer-urls", url(p), "--initial-advertise-peer-urls", url(p), "--initial-cluster", `default=${url(p)}`],
        { encoding: "utf8", timeout: 20_000, env: serverEnv() },
      );
      expect(second.status).toBe(1);
      const refusal = logLines(second.stderr).find((l) => l.level === "error")!;
      expect(refusal.msg).toContain(`'${first.dataDir}'`);
      expect(refusal.msg).toContain(`PID ${first.proc.pid}`);
      expect(refusal.msg).toContain(join(first.dataDir, "etcd-ts.lock"));
      // It touched nothing: the first member still serves reads and writes.
      expect(ctl(first, ["get", "owner", "--print-value-only"])).toBe("first\n");
      ctl(first, ["put", "owner", "still first"]);
      expect(ctl(first, ["get", "owner", "--print-value-only"])).toBe("still first\n");
    } finally {
      await first.stop();
    }
    // Once the holder is gone the lock is free: the same data dir starts again, data intact.
    const again = await startMember({ dataDir: join(root, "locked") });
    try {
      expect(ctl(again, ["get", "owner", "--print-value-only"])).toBe("still first\n");
    } finally {
      await again.stop();
    }
  }, 60_000);

  test("a start that fails on a peer port in use leaves no data dir; the retry on a free port advertises that port", async () => {
    const taken = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(taken, "127.0.0.1", () => r()));
    const dataDir = join(root, "half-made");
    try {
      const c = await freePort();
      const failed = spawnSync(
        BINARY,
        ["--name", "m", "--data-dir", dataDir, "--listen-client-urls", url(c), "--advertise-client-urls", url(c), "--listen-peer-urls", url(taken), "--initial-advertise-peer-urls", url(taken), "--initial-cluster", `m=${url(taken)}`],
        { encoding: "utf8", timeout: 20_000, env: serverEnv() },
      );
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain(`cannot listen for peers on ${url(taken)}: the address is already in use`);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      squatter.close();
    }
    const fixed = await freePort();
    const m = await startMember({ dataDir, peerPort: fixed, args: ["--name", "m", "--initial-advertise-peer-urls", url(fixed), "--initial-cluster", `m=${url(fixed)}`] });
    try {
      const list = ctl(m, ["member", "list"]);
      expect(list).toContain(`, started, m, ${url(fixed)}, ${m.clientUrl}, false`);
      expect(list).not.toContain(url(taken));
    } finally {
      await m.stop();
    }
  }, 60_000);
});

describe.if(run)("readiness", () => {
  test("a member without quorum does not answer clients; it serves once its peers are up, with etcd's lines in etcd's order", async () => {
    const names = ["q1", "q2", "q3"];
    const clients = [await freePort(), await freePort(), await freePort()];
    const peers = [await freePort(), await freePort(), await freePort()];
    const cluster = names.map((n, i) => `${n}=${url(peers[i])}`).join(",");
    const start = (i: number) =>
      startMember({ dataDir: join(root, names[i]), port: clients[i], peerPort: peers[i], args: ["--name", names[i], "--initial-advertise-peer-urls", url(peers[i]), "--initial-cluster", cluster] });
    const members: Member[] = [];
    try {
      const alone = start(0); // resolves once /health answers: only when the member is ready
      const endpoint = `127.0.0.1:${clients[0]}`;
      // Bound (a connection is accepted) but unanswered while it has no quorum: nothing from an
      // empty store, not even a serializable read or the health check.
      for (let i = 0; i < 100 && !(await tcpConnects(clients[0])); i++) await Bun.sleep(50);
      expect(await tcpConnects(clients[0])).toBe(true);
      const health = await fetch(`${url(clients[0])}/health`, { signal: AbortSignal.timeout(1500) }).then(
        (r) => `answered ${r.status}`,
        (e: Error) => e.name,
      );
      expect(health).toBe("TimeoutError");
      const read = quickCtl(endpoint, ["get", "anything", "--consistency=s"]);
      expect(read.status).not.toBe(0);
      expect(read.stdout).toBe("");
      members.push(...(await Promise.all([start(1), start(2)])));
      members.unshift(await alone);
      ctl(members[0], ["put", "k", "v"]);
      expect(ctl(members[0], ["get", "k", "--print-value-only", "--consistency=s"])).toBe("v\n");

      const lines = logLines(members[0].logs());
      const published = lines[indexOfMsg(lines, "published local member to cluster through raft")];
      expect(published).toMatchObject({
        "local-member-attributes": `{Name:q1 ClientURLs:[${url(clients[0])}]}`,
        "publish-timeout": "7s",
      });
      expect(published["request-path"]).toBe(`/0/members/${published["local-member-id"]}/attributes`);
      expect(typeof published["cluster-id"]).toBe("string");
      const order = [
        "configuring peer listeners",
        "configuring client listeners",
        "now serving peer/client/metrics",
        "published local member to cluster through raft",
        "ready to serve client requests",
        "serving client traffic insecurely; this is strongly discouraged!",
      ].map((msg) => indexOfMsg(lines, msg));
      expect(order.every((i) => i >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(lines.find((l) => l.msg === "serving client traffic insecurely; this is strongly discouraged!")).toMatchObject({ traffic: "grpc+http", address: `127.0.0.1:${clients[0]}` });
      expect(indexOfMsg(lines, "enabled capabilities for version")).toBeGreaterThan(-1);

      // Stopping the leader: the signal, the hand-over and the close, in etcd's words; exit status 0.
      const status = JSON.parse(ctl(members[0], ["endpoint", "status", "-w", "json"]))[0].Status;
      const leaderIndex = members.findIndex((m) => JSON.parse(ctl(m, ["endpoint", "status", "-w", "json"]))[0].Status.header.member_id === status.leader);
      const leader = members[leaderIndex];
      expect(await leader.stop("SIGTERM")).toBe(0);
      const stopLines = logLines(leader.logs());
      expect(stopLines.find((l) => l.msg === "received signal; shutting down")).toMatchObject({ signal: "terminated" });
      const stopOrder = ["received signal; shutting down", "closing etcd server", "leadership transfer starting", "leadership transfer finished", "closed etcd server"].map((msg) =>
        indexOfMsg(stopLines, msg),
      );
      expect(stopOrder.every((i) => i >= 0)).toBe(true);
      expect([...stopOrder].sort((a, b) => a - b)).toEqual(stopOrder);
      expect(stopLines[stopOrder[1]]).toMatchObject({ name: names[leaderIndex], "data-dir": leader.dataDir });
      members.splice(leaderIndex, 1);
      // The others lead on at once, without waiting for an election timeout.
      ctl(members[0], ["put", "after", "handover"]);
    } finally {
      for (const m of members) await m.stop();
    }
  }, 90_000);

  test("a joining learner answers only once it has joined; promoted, it is listed started with its name; removed, it exits 0", async () => {
    const [c1, c2, p1, p2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    let first: Member | null = null;
    let joiner: Member | null = null;
    try {
      first = await startMember({ dataDir: join(root, "a"), port: c1, peerPort: p1, args: ["--name", "a", "--initial-advertise-peer-urls", url(p1), "--initial-cluster", `a=${url(p1)}`] });
      for (let i = 0; i < 50; i++) ctl(first, ["put", `before-${i}`, `value-${i}`]);
      const added = ctl(first, ["member", "add", "b", `--peer-urls=${url(p2)}`, "--learner"]);
      const id = /Member +([0-9a-f]+) added to cluster/.exec(added)![1];

      const joining = startMember({
        dataDir: join(root, "b"),
        port: c2,
        peerPort: p2,
        args: ["--name", "b", "--initial-advertise-peer-urls", url(p2), "--initial-cluster", `a=${url(p1)},b=${url(p2)}`, "--initial-cluster-state", "existing"],
      });
      // Ask the joiner for the last key written before it joined, as fast as it lets us: any answer
      // it gives must come from the joined store — never an empty one from before it caught up.
      const answers: string[] = [];
      const state = { joined: false };
      void joining.then(() => (state.joined = true), () => (state.joined = true));
      while (!state.joined) {
        const r = quickCtl(`127.0.0.1:${c2}`, ["get", "before-49", "--print-value-only", "--consistency=s"]);
        if (r.status === 0) answers.push(r.stdout);
        else await Bun.sleep(20);
        if (answers.length >= 3) break;
      }
      joiner = await joining;
      answers.push(ctl(joiner, ["get", "before-49", "--print-value-only", "--consistency=s"]));
      expect(answers.every((a) => a === "value-49\n")).toBe(true);
      const lines = logLines(joiner.logs());
      expect(indexOfMsg(lines, "published local member to cluster through raft")).toBeGreaterThan(-1);
      expect(indexOfMsg(lines, "ready to serve client requests")).toBeGreaterThan(indexOfMsg(lines, "published local member to cluster through raft"));

      // Ready means published: promoted now, the member list names it at once.
      let promoted = etcdctl(first, ["member", "promote", id]);
      for (let i = 0; i < 50 && promoted.status !== 0 && /in sync with leader/.test(promoted.stderr); i++) {
        await Bun.sleep(100);
        promoted = etcdctl(first, ["member", "promote", id]);
      }
      expect(promoted.stdout).toContain(`Member ${id.padStart(16)} promoted`);
      expect(ctl(first, ["member", "list"])).toContain(`${id}, started, b, ${url(p2)}, ${url(c2)}, false`);
      expect(ctl(joiner, ["member", "list"])).toContain(`${id}, started, b, ${url(p2)}, ${url(c2)}, false`);

      expect(ctl(first, ["member", "remove", id])).toContain(`Member ${id.padStart(16)} removed`);
      // Removed on purpose: the process stops by itself and exits 0 (Restart=on-failure leaves it down).
      expect(await exitCodeOf(joiner, 15_000)).toBe(0);
      const removedLines = logLines(joiner.logs());
      expect(removedLines.find((l) => l.msg === "server error")).toMatchObject({ level: "warn", error: "the member has been permanently removed from the cluster" });
      expect(indexOfMsg(removedLines, "data-dir used by this member must be removed")).toBeGreaterThan(-1);
      joiner = null;
      expect(ctl(first, ["get", "before-0", "--print-value-only"])).toBe("value-0\n");
    } finally {
      await joiner?.stop();
      await first?.stop();
    }
  }, 90_000);
});

describe.if(run)("logging", () => {
  for (const flags of [["--log-level", "debug"], ["-debug"]]) {
    test(`${flags.join(" ")} logs at debug level; the default does not`, async () => {
      const debug = await startMember({ dataDir: join(root, `debug${flags.length}`), args: flags });
      const quiet = await startMember({ dataDir: join(root, `quiet${flags.length}`) });
      try {
        ctl(debug, ["put", "x", "y"]);
        const lines = logLines(debug.logs());
        expect(lines.find((l) => l.level === "debug" && l.msg === "locked the data directory")).toMatchObject({ "data-dir": debug.dataDir, pid: debug.proc.pid });
        expect(logLines(quiet.logs()).filter((l) => l.level === "debug")).toEqual([]);
      } finally {
        await debug.stop();
        await quiet.stop();
      }
    }, 60_000);
  }
});

// A process that never becomes ready still stops on a signal, with nothing left waiting.
describe.if(run)("stopping before ready", () => {
  test("SIGTERM stops a member that has no quorum; the connections it held are closed", async () => {
    const [c, p, other] = [await freePort(), await freePort(), await freePort()];
    const proc = spawn(
      BINARY,
      ["--name", "x", "--data-dir", join(root, "never-ready"), "--listen-client-urls", url(c), "--advertise-client-urls", url(c), "--listen-peer-urls", url(p), "--initial-advertise-peer-urls", url(p), "--initial-cluster", `x=${url(p)},y=${url(other)}`],
      { env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    proc.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    try {
      for (let i = 0; i < 100 && !out.includes("now serving peer/client/metrics"); i++) await Bun.sleep(50);
      // A client connects and waits, unanswered.
      const waiting = fetch(`${url(c)}/health`).then(
        (r) => `answered ${r.status}`,
        () => "closed",
      );
      await Bun.sleep(200);
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(await waiting).toBe("closed");
      expect(indexOfMsg(logLines(out), "ready to serve client requests")).toBe(-1);
      expect(indexOfMsg(logLines(out), "closed etcd server")).toBeGreaterThan(-1);
    } finally {
      proc.kill("SIGKILL");
    }
  }, 30_000);
});
