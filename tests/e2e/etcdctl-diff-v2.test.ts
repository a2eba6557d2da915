// ETCDCTL_API=2: the v2 command line of the real etcdctl 3.4 and of our `etcd ctl`, against the same
// three-member dist/etcd cluster (whose /v2/members and /health they read). `member list` and
// `cluster-health` print the same bytes and exit alike, healthy, degraded and with a member not
// started yet, as do their failures (a dead endpoint, an endpoint without a scheme, a bad flag,
// stray arguments, an unknown command) and the help screens (but for the version they show). The
// v2 commands etcd-ts cannot run say so and name a v3 command, which the real etcdctl then runs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ourCtl, realCtl, type CtlOptions, type CtlRun } from "./ctl-diff.ts";
import { ctl, freePort, haveEtcdctl, requireTool, startTrio, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());
const TEST_TIMEOUT_MS = 60_000;
const V2 = { env: { ETCDCTL_API: "2" } };

/** Both tools with ETCDCTL_API=2 on the same arguments; `endpoints` are URLs (v2 wants a scheme). */
function both(args: string[], opts: CtlOptions = {}): { real: CtlRun; ours: CtlRun } {
  const o = { ...opts, env: { ...V2.env, ...opts.env } };
  return { real: realCtl(null, args, o), ours: ourCtl(null, args, o) };
}

/** Same stdout, stderr and exit code; `mask` evens out what may differ (the version shown). */
function expectSame(args: string[], opts: CtlOptions & { mask?: (s: string) => string } = {}): CtlRun {
  const { real, ours } = both(args, opts);
  const mask = opts.mask ?? ((s: string) => s);
  expect({ args, out: mask(ours.stdout), err: mask(ours.stderr), status: ours.status }).toEqual({ args, out: mask(real.stdout), err: mask(real.stderr), status: real.status });
  return ours;
}

/** etcdctl 3.4 shows its version, ours 3.5's (the API it speaks). */
const maskVersion = (s: string) => s.replace(/3\.4\.\d+|3\.5\.\d+/g, "<version>");

describe.if(run)("ETCDCTL_API=2, real etcdctl 3.4 vs ours", () => {
  let members: Member[] = [];
  let root = "";
  let urls = "";

  beforeAll(async () => {
    ({ members, root } = await startTrio("ctlv2"));
    urls = members[0].clientUrl;
  }, 60_000);

  afterAll(async () => {
    for (const m of members) await m.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test(
    "member list and cluster-health on a healthy cluster, synced or not, from any member",
    () => {
      const list = expectSame(["member", "list"], { endpoints: urls });
      expect(list.stdout.split("\n").filter(Boolean)).toHaveLength(3);
      expect(list.stdout.match(/isLeader=true/g)).toHaveLength(1);
      expectSame(["--no-sync", "member", "list"], { endpoints: members[2].clientUrl });
      // ETCDCTL_ENDPOINTS and the deprecated --peers/-C name the endpoints too.
      expectSame(["member", "list"], { env: { ETCDCTL_ENDPOINTS: members[1].clientUrl } });
      expectSame(["-C", members[1].clientUrl, "member", "list"]);
      const health = expectSame(["cluster-health"], { endpoints: urls });
      expect(health.stdout).toEndWith("cluster is healthy\n");
      expect(health.status).toBe(0);
      expectSame(["--output", "json", "cluster-health"], { endpoints: members[1].clientUrl });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "failures: a dead endpoint (synced, unsynced, cluster-health), an endpoint without a scheme, stray arguments, unknown commands and flags",
    async () => {
      const dead = `http://127.0.0.1:${await freePort()}`;
      expect(expectSame(["member", "list"], { endpoints: dead }).status).toBe(2);
      expect(expectSame(["--no-sync", "member", "list"], { endpoints: dead }).status).toBe(1);
      expect(expectSame(["cluster-health"], { endpoints: dead }).status).toBe(4);
      expectSame(["member", "list"], { endpoints: members[0].endpoint });
      expectSame(["member", "list", "extra"], { endpoints: urls });
      expectSame(["nosuch"]);
      expectSame(["member", "nosuch"]);
      expectSame(["--bogus", "member", "list"], { mask: maskVersion });
      expectSame(["--timeout", "1x", "member", "list"], { mask: maskVersion });
      expectSame(["cluster-health", "--bogus"], { endpoints: urls });
      expectSame(["member", "list", "--bogus"], { endpoints: urls });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "help and version screens",
    () => {
      for (const args of [[], ["--help"], ["-h"], ["help"], ["member"], ["member", "--help"], ["member", "list", "--help"], ["cluster-health", "--help"], ["cluster-health", "-h"], ["--version"], ["-v"]]) {
        expectSame(args, { mask: maskVersion });
      }
      expect(ourCtl(null, ["--version"], V2).stdout).toBe("etcdctl version: 3.5.0\nAPI version: 2\n");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a member added but not started: listed by its peer URLs, unreachable in cluster-health, which exits 5",
    async () => {
      const peer = `http://127.0.0.1:${await freePort()}`;
      ctl(members[0], ["member", "add", "later", `--peer-urls=${peer}`]);
      try {
        const list = expectSame(["member", "list"], { endpoints: urls });
        expect(list.stdout).toContain(`[unstarted]: peerURLs=${peer}\n`);
        const health = expectSame(["cluster-health"], { endpoints: urls });
        expect(health.stdout).toContain("is unreachable: no available published client urls\n");
        expect(health.stdout).toEndWith("cluster is degraded\n");
        expect(health.status).toBe(5);
      } finally {
        const id = /(\w+)\[unstarted\]/.exec(ourCtl(null, ["member", "list"], { ...V2, endpoints: urls }).stdout)?.[1];
        if (id) ctl(members[0], ["member", "remove", id]);
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "the other v2 commands: an error naming the command, the missing v2 key space and the v3 command, which then works",
    () => {
      const cases: [string[], string][] = [
        [["set", "/v2/a", "1"], "etcdctl put /v2/a 1"],
        [["get", "/v2/a"], "etcdctl get /v2/a"],
        [["ls", "/v2"], "etcdctl get --prefix --keys-only /v2"],
        [["rm", "/v2/a"], "etcdctl del /v2/a"],
        [["rm", "--recursive", "/v2"], "etcdctl del --prefix /v2"],
        [["rmdir", "/v2"], "etcdctl del --prefix /v2/"],
        [["role", "add", "v2role"], "etcdctl role add v2role"],
        [["user", "grant", "nobody", "--roles", "v2role"], "etcdctl user grant-role nobody v2role"],
        [["role", "grant", "v2role", "--path", "/v2", "--readwrite"], "etcdctl role grant-permission v2role readwrite /v2"],
      ];
      for (const [args, v3] of cases) {
        const r = ourCtl(null, args, { ...V2, endpoints: urls });
        const shown = args[0] === "role" || args[0] === "user" ? `${args[0]} ${args[1]}` : args[0];
        expect({ args, status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
          args,
          status: 1,
          stdout: "",
          stderr: expect.stringContaining(`Error: "etcdctl ${shown}" is an etcd v2 command, and etcd-ts has no v2 key space (it serves the etcd v3 API)`),
        });
        expect(r.stderr).toEndWith(`\nUse the v3 command instead: ETCDCTL_API=3 ${v3}\n`);
      }
      // The v3 commands named run as they are (the placeholder-free ones): put, get, list, delete.
      const v3 = (command: string) => ctl(members[0], command.split(" ").slice(1));
      v3("etcdctl put /v2/a 1");
      expect(v3("etcdctl get /v2/a")).toBe("/v2/a\n1\n");
      expect(v3("etcdctl get --prefix --keys-only /v2")).toBe("/v2/a\n\n");
      expect(v3("etcdctl del /v2/a")).toBe("1\n");
      expect(v3("etcdctl del --prefix /v2")).toBe("0\n");
      v3("etcdctl role add v2role");
      expect(v3("etcdctl role grant-permission v2role readwrite /v2")).toBe("Role v2role updated\n");
      const member = ourCtl(null, ["member", "add", "x", "http://127.0.0.1:1"], { ...V2, endpoints: urls });
      expect(member.status).toBe(1);
      expect(member.stderr).toBe(
        'Error: "etcdctl member add" is an etcd v2 command, and etcd-ts has no v2 key space (it serves the etcd v3 API); membership changes go through the v3 API.\n' +
          "Use the v3 command instead: ETCDCTL_API=3 etcdctl member add x --peer-urls=http://127.0.0.1:1\n",
      );
    },
    TEST_TIMEOUT_MS,
  );
  // Last: the member stays stopped (two of three keep the quorum for nothing else that follows).
  test(
    "a stopped member: cluster-health cannot reach it and says the cluster is degraded, as the real etcdctl says",
    async () => {
      // A follower: with the leader gone, /health would change while the two tools run one after the other.
      const leaderUrl = /clientURLs=(\S+) isLeader=true/.exec(ourCtl(null, ["member", "list"], { ...V2, endpoints: urls }).stdout)![1];
      const follower = members.find((m) => m.clientUrl !== leaderUrl && m !== members[0])!;
      await follower.stop();
      const health = expectSame(["cluster-health"], { endpoints: urls });
      expect(health.stdout).toContain("failed to check the health of member");
      expect(health.stdout).toContain("connect: connection refused\n");
      expect(health.stdout).toEndWith("cluster is degraded\n");
      expect(health.status).toBe(5);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("ETCDCTL_API values", () => {
  test("anything but 2 or 3 is refused as etcdctl 3.5 refuses it", () => {
    const r = ourCtl(null, ["version"], { env: { ETCDCTL_API: "4" } });
    expect([r.status, r.stdout, r.stderr]).toEqual([1, "", "unsupported API version: 4\n"]);
  });

  test("without a cluster at the default endpoints, v2 tries http://127.0.0.1:2379 and :4001 (skipped when one listens)", async () => {
    const listening = await Promise.all([2379, 4001].map((p) => fetch(`http://127.0.0.1:${p}/`).then(() => true, () => false)));
    if (listening.some(Boolean)) return;
    const r = ourCtl(null, ["--no-sync", "member", "list"], V2);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 127.0.0.1:2379: connect: connection refused\n; error #1: dial tcp 127.0.0.1:4001: connect: connection refused\n\n",
    );
  });
});

