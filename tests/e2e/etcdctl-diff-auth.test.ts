// `auth`, `user` and `role`, and the global --user/--password, through the real etcdctl 3.4 and
// through ours: one session run step by step by each tool against its own fresh server, comparing
// stdout byte for byte (prompts included), exit codes and "Error:" lines. Two fresh servers started
// alike have the same cluster and member ids and go through the same revisions, so json, fields and
// protobuf output compare as they are.
//
// The servers: dist/etcd by default (ETCD_TS_AUTH_TARGET=etcd-ts); ETCD_TS_AUTH_TARGET=etcd runs the
// same session against two real etcd 3.4 servers (the reference), and ETCD_TS_AUTH_TARGET=both
// runs the real etcdctl against the real etcd and ours against dist/etcd: the servers' answers
// compared too, with the response headers (cluster and member ids, revisions, terms) masked and
// -w protobuf compared by exit code and errors only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type CtlOptions, type CtlRun, ourCtl, realCtl } from "./ctl-diff.ts";
import { cleanup, haveEtcdctl, haveEtcdServer, type Member, requireTool, startMember, startRealEtcd } from "./harness.ts";

// By default both: etcd-ts alone, and the parity run with the real etcd beside it.
const targets = process.env.ETCD_TS_AUTH_TARGET ? [process.env.ETCD_TS_AUTH_TARGET] : ["etcd-ts", "both"];
for (const target of targets) defineSuite(target);

function defineSuite(target: string): void {
  const run = requireTool("etcdctl", haveEtcdctl()) && (target === "etcd-ts" || requireTool("etcd (the real etcd 3.4)", haveEtcdServer()));
  const startServer = (real: boolean) => (target === "etcd" || (target === "both" && real) ? startRealEtcd() : startMember());

  /** With two different servers (target "both"): what differs between any two clusters, masked. */
  function maskHeaders(args: string[], stdout: string): string {
    if (target !== "both") return stdout;
    const w = args[args.indexOf("-w") + 1];
    if (args.includes("-w") && w === "protobuf") return "(protobuf)";
    return stdout
      .replace(/"cluster_id":\d+,"member_id":\d+,"revision":\d+,"raft_term":\d+/g, "HEADER")
      .replace(/^"(ClusterID|MemberID|Revision|RaftTerm)" : \d+$/gm, '"$1" : N');
  }

  const FORMATS = ["simple", "json", "fields", "protobuf", "table"];

  /** What a user sees: exit code, stdout, and the "Error:" lines (speakeasy's stty complaints and clientv3's logs left out). */
  function seen(r: CtlRun): { status: number | null; stdout: string; errors: string } {
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("Error:"));
    return { status: r.status, stdout: r.stdout, errors: errors.join("\n") };
  }

  describe.if(run)(`etcdctl auth/user/role: ours against the real etcdctl (server: ${target})`, () => {
    let realServer: Member;
    let ourServer: Member;
    /** Runs one step with each tool against its own server; both must look the same. */
    const same = (args: string[], opts: CtlOptions = {}) => {
      const real = seen(realCtl(realServer, args, opts));
      const ours = seen(ourCtl(ourServer, args, opts));
      expect({ args, ...ours, stdout: maskHeaders(args, ours.stdout) }).toEqual({ args, ...real, stdout: maskHeaders(args, real.stdout) });
      return ours;
    };
    const root = ["--user", "root:pw"];

    beforeAll(async () => {
      [realServer, ourServer] = await Promise.all([startServer(true), startServer(false)]);
    }, 30_000);
    afterAll(async () => {
      await Promise.all([realServer?.stop(), ourServer?.stop()]);
      for (const m of [realServer, ourServer]) if (m) cleanup(m);
    }, 20_000);

    test("users: password prompts read from stdin, name:password, flags, and the errors", () => {
      expect(same(["auth", "enable"]).errors).toBe("Error: etcdserver: root user does not exist");
      expect(same(["user", "add", "root"], { input: "pw\npw\n" }).stdout).toBe("Password of root: \nType password of root again for confirmation: \nUser root created\n");
      same(["user", "add", "alice:apw"]);
      same(["user", "add", "--new-user-password=bpw", "bob"]);
      same(["user", "add", "--interactive=false", "carol"], { input: "cpw more\n" });
      same(["user", "add", "--no-password", "dave"]);
      expect(same(["user", "add", "eve"], { input: "one\ntwo\n" })).toMatchObject({ status: 128, errors: "Error: given passwords are different" });
      expect(same(["user", "add", "eve"], { input: "\n" })).toMatchObject({ status: 128, errors: "Error: empty password" });
      expect(same(["user", "add", ":x"])).toMatchObject({ status: 128, errors: "Error: empty user name is not allowed" });
      expect(same(["user", "add", "alice:again"])).toMatchObject({ status: 1, errors: "Error: etcdserver: user name already exists" });
      same(["user", "add"]);
      same(["user", "add", "a", "b"]);
      for (const w of FORMATS) same(["-w", w, "user", "add", `u-${w}:x`]);
    }, 60_000);

    test("roles and permissions: a key, a range, a prefix, from a key, every key; in every format", () => {
      same(["role", "add", "app"]);
      expect(same(["role", "grant-permission", "app", "read", "k1"]).stdout).toBe("Role app updated\n");
      same(["role", "grant-permission", "app", "--prefix", "readwrite", "p/"]);
      same(["role", "grant-permission", "app", "write", "w1", "w5"]);
      same(["role", "grant-permission", "app", "--from-key", "READ", "z"]);
      same(["role", "add", "everything"]);
      same(["role", "grant-permission", "everything", "--prefix", "read", ""]);
      same(["role", "grant-permission", "everything", "write", ""]);
      for (const w of FORMATS) {
        same(["-w", w, "role", "add", `r-${w}`]);
        same(["-w", w, "role", "grant-permission", `r-${w}`, "read", "x"]);
      }
      // Mistakes: etcdctl's words and exit codes.
      same(["role", "add", "app"]);
      same(["role", "add"]);
      same(["role", "grant-permission", "app", "rw", "k"]);
      same(["role", "grant-permission", "app", "read"]);
      same(["role", "grant-permission", "--prefix", "--from-key", "app", "read", "k"]);
      same(["role", "grant-permission", "--prefix", "app", "read", "a", "b"]);
      same(["role", "grant-permission", "--from-key", "app", "read", "a", "b"]);
      same(["role", "grant-permission", "nosuch", "read", "k"]);
    }, 60_000);

    test("granting roles to users", () => {
      expect(same(["user", "grant-role", "alice", "app"]).stdout).toBe("Role app is granted to user alice\n");
      same(["user", "grant-role", "bob", "everything"]);
      same(["user", "grant-role", "bob", "app"]);
      for (const w of FORMATS) same(["-w", w, "user", "grant-role", "carol", `r-${w}`]);
      same(["user", "grant-role", "alice", "nosuch"]);
      same(["user", "grant-role", "nosuch", "app"]);
      same(["user", "grant-role", "alice"]);
    }, 60_000);

    test("user and role listings and details in every format", () => {
      for (const w of FORMATS) {
        same(["-w", w, "user", "list"]);
        same(["-w", w, "role", "list"]);
        same(["-w", w, "role", "get", "app"]);
        same(["-w", w, "role", "get", "everything"]);
        same(["-w", w, "user", "get", "bob"]);
        same(["-w", w, "user", "get", "--detail", "bob"]);
      }
      expect(same(["user", "get", "bob"]).stdout).toBe("User: bob\nRoles: app everything\n");
      same(["user", "get", "nosuch"]);
      same(["role", "get", "nosuch"]);
      same(["user", "list", "extra"]);
    }, 60_000);

    test("auth enable gives root the root role; then requests need a user", () => {
      same(["auth", "enable", "extra"]);
      expect(same(["auth", "enable"]).stdout).toBe("Authentication Enabled\n");
      same([...root, "user", "get", "root"]);
      expect(same(["get", "k1"])).toMatchObject({ status: 1, errors: "Error: etcdserver: user name is empty" });
      expect(same(["-w", "json", "auth", "enable"]).errors).toBe("Error: etcdserver: user name is empty");
    }, 60_000);

    test("--user: allowed and denied requests, wrong passwords, the password prompt and --password", () => {
      for (const [k, v] of [["k1", "v1"], ["k2", "v2"], ["p/a", "1"], ["w2", "2"], ["zz", "3"]]) same([...root, "put", k, v]);
      const alice = ["--user", "alice:apw"];
      expect(same([...alice, "get", "k1"]).stdout).toBe("k1\nv1\n");
      expect(same([...alice, "put", "k1", "x"])).toMatchObject({ status: 1, errors: "Error: etcdserver: permission denied" });
      same([...alice, "get", "k2"]);
      same([...alice, "put", "p/b", "2"]);
      same([...alice, "get", "--prefix", "p/"]);
      same([...alice, "-w", "json", "get", "p/a"]);
      same([...alice, "put", "w3", "3"]);
      same([...alice, "get", "w3"]);
      same([...alice, "get", "zz"]);
      same([...alice, "del", "p/b"]);
      same([...alice, "user", "list"]);
      same([...alice, "auth", "disable"]);
      expect(same(["--user", "alice:wrong", "get", "k1"])).toMatchObject({ status: 2, errors: "Error: etcdserver: authentication failed, invalid user ID or password" });
      same(["--user", "nosuch:x", "get", "k1"]);
      same(["--user", "alice:", "get", "k1"]);
      expect(same(["--user", "alice", "get", "k1"], { input: "apw\n" }).stdout).toBe("Password: \nk1\nv1\n");
      same(["--user", "alice", "get", "k1"], { input: "wrong\n" });
      same(["--user", "alice", "--password", "apw", "get", "k1"]);
      same(["--user", "bob:bpw", "get", "--prefix", ""]);
      same(["--user", "bob:bpw", "put", "k9", "9"]);
      same(["--user", "dave:", "get", "k1"]);
    }, 60_000);

    test("watch --user: the token goes with the watch stream (without it the server cancels the watch)", async () => {
      const { spawn } = await import("node:child_process");
      const { BINARY } = await import("./harness.ts");
      const w = spawn(BINARY, ["ctl", "--endpoints", ourServer.endpoint, ...root, "watch", "watchkey"], { env: { ...process.env, ETCDCTL_API: "3" } });
      let out = "";
      w.stdout.on("data", (d) => (out += d));
      w.stderr.on("data", (d) => (out += d));
      try {
        await Bun.sleep(700);
        // On both servers (same), so they stay at the same revisions for the steps after this one.
        expect(same([...root, "put", "watchkey", "watched"]).status).toBe(0);
        for (let i = 0; i < 50 && !out.includes("watched"); i++) await Bun.sleep(100);
        expect(out).toBe("PUT\nwatchkey\nwatched\n");
      } finally {
        w.kill("SIGINT");
      }
    }, 30_000);

    test("root changes permissions, roles and passwords while auth is enabled", () => {
      expect(same([...root, "role", "revoke-permission", "app", "k1"]).stdout).toBe("Permission of key k1 is revoked from role app\n");
      same([...root, "role", "revoke-permission", "app", "w1", "w5"]);
      same([...root, "role", "revoke-permission", "app", "--prefix", "p/"]);
      same([...root, "role", "revoke-permission", "app", "--from-key", "z"]);
      same([...root, "role", "revoke-permission", "everything", "--prefix", ""]);
      same([...root, "role", "revoke-permission", "everything", ""]);
      same([...root, "role", "revoke-permission", "app", "k1"]);
      same([...root, "role", "revoke-permission", "app"]);
      for (const w of FORMATS) same([...root, "-w", w, "role", "revoke-permission", `r-${w}`, "x"]);
      same([...root, "role", "get", "app"]);
      same(["--user", "alice:apw", "get", "zz"]);

      expect(same([...root, "user", "passwd", "alice"], { input: "new\nnew\n" }).stdout).toBe("Password of alice: \nType password of alice again for confirmation: \nPassword updated\n");
      same(["--user", "alice:apw", "get", "k1"]);
      same(["--user", "alice:new", "user", "get", "alice"]);
      same([...root, "user", "passwd", "alice"], { input: "a\nb\n" });
      for (const w of FORMATS) same([...root, "-w", w, "user", "passwd", "--interactive=false", `u-${w}`], { input: "y\n" });
      same([...root, "user", "passwd", "nosuch"], { input: "x\nx\n" });

      same([...root, "user", "revoke-role", "bob", "app"]);
      same([...root, "user", "revoke-role", "bob", "app"]);
      for (const w of FORMATS) same([...root, "-w", w, "user", "revoke-role", "carol", `r-${w}`]);
      for (const w of FORMATS) same([...root, "-w", w, "user", "delete", `u-${w}`]);
      for (const w of FORMATS) same([...root, "-w", w, "role", "delete", `r-${w}`]);
      same([...root, "user", "delete", "nosuch"]);
      same([...root, "role", "delete", "nosuch"]);
      same([...root, "user", "list"]);
      same([...root, "role", "list"]);
    }, 60_000);

    test("auth disable needs root; afterwards requests need no user", () => {
      same(["auth", "disable"]);
      same(["--user", "bob:bpw", "auth", "disable"]);
      expect(same([...root, "auth", "disable"]).stdout).toBe("Authentication Disabled\n");
      same(["auth", "disable"]);
      same(["get", "k1"]);
      same(["--user", "alice:new", "get", "k1"]);
      same(["--user", "alice:wrong", "get", "k1"]);
    }, 60_000);

    // etcdctl 3.5 has `auth status`; 3.4's has not (and etcd 3.4 has no AuthStatus RPC): ours alone.
    test("auth status (ours alone: the real etcdctl 3.4 lacks it)", () => {
      const r = seen(ourCtl(ourServer, [...root, "auth", "status"]));
      if (target === "etcd") {
        expect(r).toEqual({ status: 1, stdout: "", errors: "Error: unknown method AuthStatus for service etcdserverpb.Auth" });
      } else {
        expect(r.stdout).toMatch(/^Authentication Status: false\nAuthRevision: \d+\n$/);
      }
    });
  });
}
