// Authentication and authorization attacks against dist/etcd, each refused with etcd's error while
// the server keeps serving: a stale token after a permission change, a tampered or expired JWT, a
// watch on a forbidden range (nothing leaks), an oversized auth request, password guessing (slowed);
// and a 3-member cluster where a user added through one member authenticates through another.
// Calls go through the JSON gateway (the token in `Authorization`, as etcd's gateway) and etcdctl.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { BINARY, cleanup, ctl, etcdctl, freePort, haveEtcdctl, type Member, serverEnv, startMember, startTrio } from "./harness.ts";
import { makeTestPki } from "./tls-certs.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
/** Tests use a low bcrypt cost: the cost's effect is not what they measure. */
const FAST = ["--bcrypt-cost", "4"];

async function gw(m: Member, path: string, body: unknown, token?: string): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = token;
  const res = await fetch(`${m.clientUrl}/v3/${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

async function login(m: Member, name: string, password: string): Promise<string> {
  const r = await gw(m, "auth/authenticate", { name, password });
  if (r.status !== 200) throw new Error(`authenticate ${name}: ${JSON.stringify(r.json)}`);
  return r.json.token;
}

/** root (pw) and alice (apw) who may read a/ only; auth enabled. */
async function setUp(m: Member | Member[]): Promise<void> {
  const at = (i: number) => (Array.isArray(m) ? m[i % m.length] : m);
  for (const [i, [path, body]] of (
    [
      ["auth/user/add", { name: "root", password: "pw" }],
      ["auth/role/add", { name: "root" }],
      ["auth/user/grant", { user: "root", role: "root" }],
      ["auth/user/add", { name: "alice", password: "apw" }],
      ["auth/role/add", { name: "reader" }],
      ["auth/role/grant", { name: "reader", perm: { permType: "READ", key: b64("a/"), range_end: b64("a0") } }],
      ["auth/user/grant", { user: "alice", role: "reader" }],
      ["auth/enable", {}],
    ] as const
  ).entries()) {
    const r = await gw(at(i), path, body);
    if (r.status !== 200) throw new Error(`${path}: ${JSON.stringify(r.json)}`);
  }
}

describe("auth on one member: attacks refused, the server keeps serving", () => {
  let m: Member;
  const keyDir = mkdtempSync(join(tmpdir(), "auth-jwt-"));
  beforeAll(async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(join(keyDir, "pub.pem"), publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(join(keyDir, "priv.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
    const jwt = `jwt,pub-key=${join(keyDir, "pub.pem")},priv-key=${join(keyDir, "priv.pem")},sign-method=ES256,ttl=3s`;
    m = await startMember({ args: [...FAST, "--auth-token", jwt, "--max-request-bytes", "4096"] });
    await setUp(m);
  }, 30_000);
  afterAll(async () => {
    await m?.stop();
    if (m) cleanup(m);
    rmSync(keyDir, { recursive: true, force: true });
  });

  test("no token: 'user name is empty'; a JWT is verified; a tampered one is 'invalid auth token'", async () => {
    expect((await gw(m, "kv/range", { key: b64("a/x") })).json.message).toBe("etcdserver: user name is empty");
    const token = await login(m, "alice", "apw");
    expect(token.split(".").length).toBe(3);
    expect((await gw(m, "kv/range", { key: b64("a/x") }, token)).status).toBe(200);
    const [h, p, s] = token.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    expect(Object.keys(claims).sort()).toEqual(["exp", "revision", "username"]);
    const asRoot = Buffer.from(JSON.stringify({ ...claims, username: "root" })).toString("base64url");
    for (const bad of [`${h}.${asRoot}.${s}`, `${h}.${p}.${s.slice(0, -4)}AAAA`, `${Buffer.from('{"alg":"none"}').toString("base64url")}.${asRoot}.`, "garbage"]) {
      const r = await gw(m, "kv/put", { key: b64("b/x"), value: b64("pwned") }, bad);
      expect(r.json.message).toBe("etcdserver: invalid auth token");
    }
    const root = await login(m, "root", "pw");
    expect((await gw(m, "kv/range", { key: b64("b/x") }, root)).json.count).toBeUndefined(); // nothing was written
  });

  test("a token issued before a permission change: 'revision of auth store is old'", async () => {
    const alice = await login(m, "alice", "apw");
    const root = await login(m, "root", "pw");
    expect((await gw(m, "auth/role/grant", { name: "reader", perm: { permType: "READ", key: b64("c") } }, root)).status).toBe(200);
    expect((await gw(m, "kv/range", { key: b64("a/x") }, alice)).json.message).toBe("etcdserver: revision of auth store is old");
    const fresh = await login(m, "alice", "apw");
    expect((await gw(m, "kv/range", { key: b64("a/x") }, fresh)).status).toBe(200);
    // Permissions still apply with a fresh token.
    expect((await gw(m, "kv/put", { key: b64("a/x"), value: b64("v") }, fresh)).json.message).toBe("etcdserver: permission denied");
  });

  test("lease key names are shown only to who may read them all (etcd's CVE-2023-32082 fix); alarms are root's", async () => {
    const root = await login(m, "root", "pw");
    const alice = await login(m, "alice", "apw");
    const grant = await gw(m, "lease/grant", { TTL: 600 }, root);
    const id = grant.json.ID;
    expect((await gw(m, "kv/put", { key: b64("secret/plan"), value: b64("x"), lease: id }, root)).status).toBe(200);
    // No token: nothing; alice (reads a/ only): denied; root: the key.
    expect((await gw(m, "lease/timetolive", { ID: id, keys: true })).json.message).toBe("etcdserver: user name is empty");
    expect((await gw(m, "lease/leases", {})).json.message).toBe("etcdserver: user name is empty");
    const denied = await gw(m, "lease/timetolive", { ID: id, keys: true }, alice);
    expect(denied.json.message).toBe("etcdserver: permission denied");
    expect(JSON.stringify(denied.json)).not.toContain(b64("secret/plan"));
    expect((await gw(m, "lease/timetolive", { ID: id, keys: true }, root)).json.keys).toEqual([b64("secret/plan")]);
    // Raising NOSPACE stops every write: not for alice nor for anyone without a token; listing is open.
    for (const token of [undefined, alice]) {
      const r = await gw(m, "maintenance/alarm", { action: "ACTIVATE", alarm: "NOSPACE", memberID: "0" }, token);
      expect(r.json.message).toMatch(/auth: (permission denied|user name is empty)/);
    }
    expect((await gw(m, "maintenance/alarm", { action: "GET" })).status).toBe(200);
    expect((await gw(m, "kv/put", { key: b64("b/y"), value: b64("v") }, root)).status).toBe(200);
  });

  test("a JWT expires (ttl=3s here)", async () => {
    const alice = await login(m, "alice", "apw");
    expect((await gw(m, "kv/range", { key: b64("a/x") }, alice)).status).toBe(200);
    await Bun.sleep(4100);
    expect((await gw(m, "kv/range", { key: b64("a/x") }, alice)).json.message).toBe("etcdserver: invalid auth token");
  }, 15_000);

  test("a watch on a forbidden range is cancelled with etcd's reason and sees nothing", async () => {
    const alice = await login(m, "alice", "apw");
    const root = await login(m, "root", "pw");
    const ac = new AbortController();
    const res = await fetch(`${m.clientUrl}/v3/watch`, {
      method: "POST",
      headers: { authorization: alice },
      body: JSON.stringify({ create_request: { key: b64("secret/"), range_end: b64("secret0") } }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    let text = "";
    const readFor = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const r = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)]);
        if (!r || r.done) return;
        text += new TextDecoder().decode(r.value);
      }
    };
    await readFor(1000);
    const first = JSON.parse(text.split("\n")[0]).result;
    expect([first.created, first.canceled, first.cancel_reason]).toEqual([true, true, "rpc error: code = PermissionDenied desc = etcdserver: permission denied"]);
    expect((await gw(m, "kv/put", { key: b64("secret/1"), value: b64("classified") }, root)).status).toBe(200);
    await readFor(700);
    ac.abort();
    expect(text).not.toContain(b64("classified"));
    expect(text).not.toContain(b64("secret/1"));
  });

  test("an oversized auth request: etcd's 'request is too large', before any hashing", async () => {
    const big = "x".repeat(5000);
    expect((await gw(m, "auth/authenticate", { name: "alice", password: big })).json.message).toBe("etcdserver: request is too large");
    const root = await login(m, "root", "pw");
    expect((await gw(m, "auth/user/add", { name: "mallory", password: big }, root)).json.message).toBe("etcdserver: request is too large");
    expect((await gw(m, "auth/user/add", { name: big }, root)).json.message).toBe("etcdserver: request is too large");
  });

  test("password guessing is slowed per user; the right password and other users are not", async () => {
    const admin = await login(m, "root", "pw");
    expect((await gw(m, "auth/user/add", { name: "victim", password: "vpw" }, admin)).status).toBe(200);
    const wrong = async () => {
      const t0 = performance.now();
      const r = await gw(m, "auth/authenticate", { name: "victim", password: "guess" });
      expect(r.json.message).toBe("etcdserver: authentication failed, invalid user ID or password");
      return performance.now() - t0;
    };
    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push(await wrong());
    // Three free failures, then 250, 500, 1000, … ms before each further check of that name.
    expect(times[3]).toBeGreaterThan(240);
    expect(times[4]).toBeGreaterThan(490);
    // Parallel guesses queue behind each other instead of multiplying the rate: 1 s, then 2 s more.
    const t0 = performance.now();
    const parallel = Promise.all([wrong(), wrong()]);
    // Others are served meanwhile.
    const t1 = performance.now();
    await login(m, "root", "pw");
    expect(performance.now() - t1).toBeLessThan(1000);
    await parallel;
    expect(performance.now() - t0).toBeGreaterThan(1000 + 2000 - 100);
  }, 30_000);

  test.if(haveEtcdctl())("etcdctl: read-only user can get a/x but not put it nor read other keys", () => {
    ctl(m, ["--user", "root:pw", "put", "a/x", "1"]);
    ctl(m, ["--user", "root:pw", "put", "other", "2"]);
    expect(ctl(m, ["--user", "alice:apw", "get", "a/x", "--print-value-only"])).toBe("1\n");
    expect(etcdctl(m, ["--user", "alice:apw", "put", "a/x", "2"]).stderr).toContain("etcdserver: permission denied");
    expect(etcdctl(m, ["--user", "alice:apw", "get", "other"]).stderr).toContain("etcdserver: permission denied");
    expect(etcdctl(m, ["put", "a/x", "3"]).stderr).toContain("etcdserver: user name is empty");
    // Lock runs its KV operations as the caller; maintenance needs root (etcd's own error there).
    expect(etcdctl(m, ["--user", "alice:apw", "lock", "l", "echo", "held"]).stderr).toContain("etcdserver: permission denied");
    expect(ctl(m, ["--user", "root:pw", "lock", "l", "echo", "held"])).toBe("held\n");
    expect(etcdctl(m, ["--user", "alice:apw", "endpoint", "hash"]).stderr).toContain("auth: permission denied");
    expect(etcdctl(m, ["--user", "alice:apw", "member", "add", "x", "--peer-urls=http://127.0.0.1:1"]).stderr).toContain("etcdserver: permission denied");
  });
});

describe("auth in a 3-member cluster", () => {
  let members: Member[] = [];
  let root = "";
  beforeAll(async () => {
    ({ members, root } = await startTrio("authc", FAST));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(members.map((x) => x.stop()));
    rmSync(root, { recursive: true, force: true });
  }, 20_000);

  test("users and roles made through members 1..3 in turn; a user added on one authenticates on another; a token works everywhere", async () => {
    await setUp(members);
    const [m1, m2, m3] = members;
    expect((await gw(m1, "auth/user/add", { name: "bob", password: "bpw" }, await login(m1, "root", "pw"))).status).toBe(200);
    const bob = await login(m3, "bob", "bpw");
    // A simple token made by member 3's Authenticate is known on every member (applied through Raft).
    for (const m of members) expect((await gw(m, "kv/range", { key: b64("a/x") }, bob)).json.message).toBe("etcdserver: permission denied");
    const alice = await login(m2, "alice", "apw");
    for (const m of members) expect((await gw(m, "kv/range", { key: b64("a/x") }, alice)).status).toBe(200);
    expect((await gw(m1, "kv/put", { key: b64("a/x"), value: b64("1") }, alice)).json.message).toBe("etcdserver: permission denied");
    // Permissions changed through member 3 apply on member 1 at once (linearizable).
    const rootToken = await login(m3, "root", "pw");
    expect((await gw(m3, "auth/role/grant", { name: "reader", perm: { permType: "READWRITE", key: b64("a/"), range_end: b64("a0") } }, rootToken)).status).toBe(200);
    const again = await login(m1, "alice", "apw");
    expect((await gw(m1, "kv/put", { key: b64("a/x"), value: b64("1") }, again)).status).toBe(200);
    // The store (with its hashes) is the same on every member: the password works on each.
    for (const m of members) expect((await login(m, "bob", "bpw")).length).toBeGreaterThan(0);
  }, 60_000);
});

describe.if(haveEtcdctl())("--client-cert-auth: the verified certificate's CN is the user when no token is sent", () => {
  const dir = mkdtempSync(join(tmpdir(), "auth-cn-"));
  let proc: ReturnType<typeof spawn> | undefined;
  let endpoint = "";
  let tlsArgs: string[] = [];
  beforeAll(async () => {
    const pki = await makeTestPki(join(dir, "pki"));
    tlsArgs = ["--cacert", pki.ca, "--cert", pki.client.cert, "--key", pki.client.key]; // CN "root"
    const [port, peer] = [await freePort(), await freePort()];
    endpoint = `https://127.0.0.1:${port}`;
    proc = spawn(BINARY, [...FAST, "--data-dir", join(dir, "data"), "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
      "--listen-peer-urls", `http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`, "--initial-cluster", `default=http://127.0.0.1:${peer}`,
      "--cert-file", pki.server.cert, "--key-file", pki.server.key, "--trusted-ca-file", pki.ca, "--client-cert-auth"], { env: serverEnv(), stdio: "ignore" });
    for (let i = 0; i < 100 && etcdctl(endpoint, [...tlsArgs, "endpoint", "health"]).status !== 0; i++) await Bun.sleep(200);
  }, 40_000);
  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("CN root acts as root; a token, when sent, wins over the certificate", () => {
    for (const a of [["user", "add", "root:pw"], ["user", "add", "alice:apw"], ["auth", "enable"]]) ctl(endpoint, [...tlsArgs, ...a]);
    expect(ctl(endpoint, [...tlsArgs, "put", "k", "v"])).toBe("OK\n");
    expect(ctl(endpoint, [...tlsArgs, "user", "list"])).toBe("alice\nroot\n");
    expect(etcdctl(endpoint, [...tlsArgs, "--user", "alice:apw", "put", "k", "v2"]).stderr).toContain("etcdserver: permission denied");
  }, 30_000);
});
