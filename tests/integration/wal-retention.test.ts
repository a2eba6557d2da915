// A member whose oldest WAL segments were purged restarts with everything: its identity, its vote
// and term, and every applied write — each segment carries what a reader needs (metadata, the
// latest snapshot marker, the hard state), as etcd's do.
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdServer, type ServerOptions } from "../../src/server/core/server.ts";

const until = async (pred: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await Bun.sleep(10);
  }
};

test("restart after the first WAL segments were purged (--max-wals 2, small segments)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wal-retention-"));
  const opts: ServerOptions = {
    name: "default",
    dataDir: dir,
    initialAdvertisePeerUrls: ["http://127.0.0.1:2380"],
    advertiseClientUrls: ["http://127.0.0.1:2379"],
    initialClusterToken: "etcd-cluster",
    heartbeatIntervalMs: 10,
    electionTimeoutMs: 100,
    maxRequestBytes: 1 << 20,
    maxTxnOps: 128,
    snapshotCount: 20,
    maxWals: 2,
    walSegmentBytes: 4096,
    log: () => {},
  };
  const enc = (s: string) => new TextEncoder().encode(s);
  try {
    let s = await EtcdServer.start(opts, (e) => {
      throw e;
    });
    await until(() => s.isReady);
    for (let i = 0; i < 300; i++) await s.put({ key: enc(`k${i}`), value: new Uint8Array(100) });
    const before = s.header();
    await s.stop();
    const segments = readdirSync(join(dir, "member", "wal")).filter((f) => f.endsWith(".wal"));
    expect(segments.length).toBeLessThanOrEqual(3); // 2 kept, at most one more still needed
    expect(segments.some((f) => f.startsWith("0000000000000000-"))).toBe(false); // the first one is gone

    let fatal: unknown;
    s = await EtcdServer.start(opts, (e) => (fatal = e));
    await until(() => s.isReady);
    expect(fatal).toBeUndefined();
    const after = s.header();
    expect(after.memberId).toBe(before.memberId);
    expect(after.clusterId).toBe(before.clusterId);
    expect(after.raftTerm).toBeGreaterThanOrEqual(before.raftTerm);
    expect(after.revision).toBe(before.revision);
    expect((await s.range({ key: enc("k0"), rangeEnd: enc("k:") })).count).toBe(300n);
    await s.put({ key: enc("after"), value: enc("restart") });
    await s.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
