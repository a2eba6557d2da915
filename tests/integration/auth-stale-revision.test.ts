// A write whose auth revision went stale while in flight (a user added meanwhile — etcd's e2e
// TestCtlV3AuthCertCNWithWithConcurrentOperation does exactly this) is proposed again with the
// current revision when the identity was looked up at request time (TLS CN, simple token), as
// etcd's raftRequest does; a JWT carries its revision and stays refused.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errors } from "../../src/pkg/errors.ts";
import type { AuthInfo } from "../../src/server/core/auth/store.ts";
import { EtcdServer } from "../../src/server/core/server.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dir = mkdtempSync(join(tmpdir(), "auth-stale-"));
let s: EtcdServer;

beforeAll(async () => {
  s = await EtcdServer.start(
    {
      name: "default",
      dataDir: dir,
      initialAdvertisePeerUrls: ["http://127.0.0.1:2380"],
      advertiseClientUrls: ["http://127.0.0.1:2379"],
      initialClusterToken: "etcd-cluster",
      heartbeatIntervalMs: 10,
      electionTimeoutMs: 100,
      maxRequestBytes: 1 << 20,
      maxTxnOps: 128,
      snapshotCount: 10_000,
      log: () => {},
      auth: { bcryptCost: 4 },
    },
    (e) => {
      throw e;
    },
  );
  const end = Date.now() + 10_000;
  while (!s.isReady) {
    if (Date.now() > end) throw new Error("not ready");
    await Bun.sleep(10);
  }
  // root may do anything; auth on.
  await s.auth.userAdd({ name: "root", password: "pw" }, undefined);
  await s.auth.userGrantRole({ user: "root", role: "root" }, undefined);
  await s.auth.enable(undefined);
});

afterAll(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a write looked up before an auth change is applied with the current revision (CN, simple token)", async () => {
  const root: AuthInfo = { username: "root", revision: s.auth.status().authRevision, current: true };
  // Auth changes after the lookup and before the write is applied.
  await s.auth.userAdd({ name: "u1", password: "pw" }, root);
  expect(s.auth.status().authRevision).toBeGreaterThan(root.revision);
  await s.put({ key: enc("k"), value: enc("v") }, root);
  expect((await s.range({ key: enc("k") }, { ...root, revision: s.auth.status().authRevision })).count).toBe(1n);
});

test("a JWT's revision is the token's own: the stale write is refused, as etcd refuses it", async () => {
  const jwtRoot: AuthInfo = { username: "root", revision: s.auth.status().authRevision };
  await s.auth.userAdd({ name: "u2", password: "pw" }, { ...jwtRoot, current: true });
  await expect(s.put({ key: enc("k2"), value: enc("v") }, jwtRoot)).rejects.toBe(Errors.authOldRevision);
});
