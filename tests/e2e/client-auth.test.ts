// Our TypeScript client (src/client) with a user name and password, against a server with auth
// enabled: the token goes with KV calls, watches and lease keep-alives; a token the server no longer
// knows (the member restarted: simple tokens live in memory) is replaced without the caller noticing;
// a wrong password fails with etcd's error.
//
// The server is dist/etcd; ETCD_TS_AUTH_TARGET=etcd runs the same file against the real etcd 3.4
// (the reference behaviour these tests were first written against).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type EtcdError, Errors, rpc, type WatchEvent } from "../../src/client/index.ts";
import { BINARY, freePort, haveEtcdServer, requireTool, serverEnv } from "./harness.ts";

const target = process.env.ETCD_TS_AUTH_TARGET ?? "etcd-ts";
const run = target !== "etcd" || requireTool("etcd (the real etcd 3.4)", haveEtcdServer());

/** One server on fixed ports and data dir, so that it can be stopped and started again as the same member. */
class Server {
  readonly dataDir = mkdtempSync(join(tmpdir(), "client-auth-"));
  proc: ChildProcess | null = null;
  constructor(
    readonly port: number,
    readonly peerPort: number,
  ) {}

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const url = `http://${this.endpoint}`;
    const command = target === "etcd" ? "etcd" : BINARY;
    const args = ["--data-dir", this.dataDir, "--listen-client-urls", url, "--advertise-client-urls", url, "--listen-peer-urls", `http://127.0.0.1:${this.peerPort}`];
    const proc = spawn(command, args, { env: serverEnv(), stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proc.stderr!.on("data", (d) => (log = (log + d).slice(-4000)));
    this.proc = proc;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`${command} exited with ${proc.exitCode}:\n${log}`);
      try {
        if ((await fetch(`${url}/health`)).ok) return;
      } catch {}
      await Bun.sleep(50);
    }
    throw new Error(`${command} did not become healthy within 15 s:\n${log}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  }
}

/** The next event of a watch, within timeoutMs. */
async function nextEvent(it: AsyncIterator<WatchEvent>, timeoutMs = 10_000): Promise<WatchEvent> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no watch event within ${timeoutMs} ms`)), timeoutMs)));
  try {
    const r = await Promise.race([it.next(), timeout]);
    if (r.done) throw new Error("the watch ended");
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

async function failure(p: Promise<unknown>): Promise<EtcdError> {
  try {
    await p;
  } catch (e) {
    return e as EtcdError;
  }
  throw new Error("expected the call to fail");
}

describe.if(run)(`client authentication (server: ${target})`, () => {
  let server: Server;
  const clients: Client[] = [];
  const client = (username?: string, password?: string) => {
    const c = new Client({ endpoints: [server.endpoint], username, password, dialTimeoutMs: 3000, requestTimeoutMs: 10_000 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = new Server(await freePort(), await freePort());
    await server.start();
    // root (with the root role) and alice, who may read and write under a/ only; then auth on.
    const admin = client();
    await admin.call(rpc.authUserAdd, { name: "root", password: "pw", options: {} });
    await admin.call(rpc.authRoleAdd, { name: "root" });
    await admin.call(rpc.authUserGrantRole, { user: "root", role: "root" });
    await admin.call(rpc.authUserAdd, { name: "alice", password: "apw", options: {} });
    await admin.call(rpc.authRoleAdd, { name: "app" });
    await admin.call(rpc.authRoleGrantPermission, { name: "app", perm: { permType: 2, key: Buffer.from("a/"), rangeEnd: Buffer.from("a0") } });
    await admin.call(rpc.authUserGrantRole, { user: "alice", role: "app" });
    await admin.call(rpc.authEnable, {});
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    if (server) rmSync(server.dataDir, { recursive: true, force: true });
  }, 20_000);

  test("the token goes with KV calls, watches and lease calls; permissions apply", async () => {
    const alice = client("alice", "apw");
    await alice.put("a/1", "one");
    expect((await alice.get("a/1")).kvs[0].value.toString()).toBe("one");
    expect(await failure(alice.put("b/1", "x"))).toBe(Errors.permissionDenied);
    expect(await failure(alice.get("b/1"))).toBe(Errors.permissionDenied);

    // Without a token etcd cancels the watch ("permission denied"): events arriving prove it went along.
    const it = alice.watch("a/", { prefix: true })[Symbol.asyncIterator]();
    await Bun.sleep(200);
    await alice.put("a/2", "two");
    const ev = await nextEvent(it);
    expect([ev.type, ev.kv.key.toString(), ev.kv.value.toString()]).toEqual(["put", "a/2", "two"]);
    await it.return?.();

    const lease = await alice.lease.grant(30);
    await alice.put("a/leased", "x", { lease });
    const ttl = await lease.timeToLive({ keys: true });
    expect(ttl.keys.map((k) => k.toString())).toEqual(["a/leased"]);
    const ka = lease.keepAlive();
    for (let i = 0; i < 100 && ka.ttl === null; i++) await Bun.sleep(50);
    expect(ka.ttl).toBe(30n);
    ka.stop();
    await lease.revoke();
    expect((await alice.get("a/leased")).count).toBe(0n);
  }, 30_000);

  test("without credentials: etcd's 'user name is empty'; a wrong password or user: 'authentication failed'", async () => {
    expect(await failure(client().get("a/1"))).toBe(Errors.userEmpty);
    expect(await failure(client("alice", "wrong").get("a/1"))).toBe(Errors.authFailed);
    expect(await failure(client("nobody", "x").put("a/1", "x"))).toBe(Errors.authFailed);
    // clientv3 authenticates only with both a name and a password.
    expect(await failure(client("alice", "").get("a/1"))).toBe(Errors.userEmpty);
  }, 30_000);

  test("after the member restarts (its simple tokens forgotten) a call goes on with a new token", async () => {
    const alice = client("alice", "apw");
    await alice.put("a/r", "before");
    await server.stop();
    await server.start();
    // The token is unknown to the restarted member ("invalid auth token"): the client authenticates
    // again by itself and repeats the call. No stream is open, so nothing else fetched a new token.
    expect((await alice.get("a/r")).kvs[0].value.toString()).toBe("before");
    await alice.put("a/r", "after");
  }, 60_000);

  test("a watch resumes across a restart: its new stream authenticates again", async () => {
    const alice = client("alice", "apw");
    const it = alice.watch("a/w")[Symbol.asyncIterator]();
    await Bun.sleep(200);
    await alice.put("a/w", "1");
    expect((await nextEvent(it)).kv.value.toString()).toBe("1");
    await server.stop();
    await server.start();
    await client("alice", "apw").put("a/w", "2");
    expect((await nextEvent(it, 15_000)).kv.value.toString()).toBe("2");
    await it.return?.();
  }, 60_000);
});
