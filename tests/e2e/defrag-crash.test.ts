// Defrag under writes, killed half-way: nothing acknowledged is lost.
//
// A member gets ~60 MB of keys, most of them deleted and compacted away so its database is mostly
// free pages. Defragment then runs while writers keep putting; once the database file has visibly
// started to shrink (and before the RPC returned) the member is killed with SIGKILL. Twice. Each
// restart on the same data dir must hold every acknowledged put and none of the acknowledged
// deletes; a last defrag, left to finish, must shrink dbSize and keep it all again.
import { afterAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { cleanup, startMember, type Member } from "./harness.ts";
import { GrpcConn } from "./grpc-raw.ts";

const KEYS = 24_000;
const VALUE_BYTES = 2048;
const KEEP_EVERY = 4; // keys i % 4 == 0 stay, the rest are deleted
const WRITERS = 4;
const KILL_ROUNDS = 2;
const fillKey = (i: number) => `fill/${String(i).padStart(6, "0")}`;
const fillValue = (i: number) => `${i}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + (i % 26)));

const started: Member[] = [];
afterAll(async () => {
  for (const m of started) await m.stop("SIGKILL");
  if (started[0]) cleanup(started[0]);
});

async function start(dataDir?: string): Promise<Member> {
  const m = await startMember({ dataDir, args: ["--quota-backend-bytes", String(4 * 1024 ** 3)] });
  started.push(m);
  return m;
}

const dbFile = (m: Member) => join(m.dataDir, "member", "snap", "db");

async function status(conn: GrpcConn): Promise<etcdserverpb.StatusResponse> {
  return etcdserverpb.StatusResponse.decode(await conn.unary("/etcdserverpb.Maintenance/Status", etcdserverpb.StatusRequest.encode({}).finish(), 10_000));
}

function defrag(conn: GrpcConn): Promise<Uint8Array> {
  return conn.unary("/etcdserverpb.Maintenance/Defragment", etcdserverpb.DefragmentRequest.encode({}).finish(), 120_000);
}

/** Every key the test ever got acknowledged, by value; null = acknowledged delete. */
const acked = new Map<string, string | null>();

async function fill(m: Member): Promise<void> {
  const conns = Array.from({ length: 4 }, () => new GrpcConn(m.endpoint));
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async (_, w) => {
      for (let i = next++; i < KEYS; i = next++) {
        await conns[w % conns.length].put(fillKey(i), fillValue(i), 30_000);
        acked.set(fillKey(i), fillValue(i));
      }
    }),
  );
  const conn = conns[0];
  for (let from = 0; from < KEYS; from += 1000) {
    // Whole blocks go (one request each); the keepers, one in KEEP_EVERY, are put back below.
    const req = etcdserverpb.DeleteRangeRequest.encode({ key: Buffer.from(fillKey(from)), rangeEnd: Buffer.from(fillKey(from + 1000)) }).finish();
    await conn.unary("/etcdserverpb.KV/DeleteRange", req, 30_000);
    for (let i = from; i < from + 1000; i++) acked.set(fillKey(i), null);
  }
  // Keepers back at a new revision, then all history before it compacted away: the old values' pages are free.
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let i = w * KEEP_EVERY; i < KEYS; i += 16 * KEEP_EVERY) {
        await conns[w % conns.length].put(fillKey(i), fillValue(i), 30_000);
        acked.set(fillKey(i), fillValue(i));
      }
    }),
  );
  const rev = (await status(conn)).header!.revision!;
  await conn.unary("/etcdserverpb.KV/Compact", etcdserverpb.CompactionRequest.encode({ revision: rev, physical: true }).finish(), 60_000);
  for (const c of conns) c.close();
}

/** Writers putting new keys until stopped or the member dies; only puts answered OK are recorded. */
function writers(m: Member, round: number): { stop: () => Promise<void> } {
  let stopping = false;
  const loops = Array.from({ length: WRITERS }, async (_, w) => {
    const conn = new GrpcConn(m.endpoint);
    try {
      for (let n = 0; !stopping && n < 1_000_000; n++) {
        const key = `w/${round}/${w}/${n}`;
        try {
          await conn.put(key, `v-${key}`, 10_000);
          acked.set(key, `v-${key}`);
        } catch {
          return; // the member was killed
        }
      }
    } finally {
      conn.close();
    }
  });
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

async function verify(m: Member, context: string): Promise<void> {
  const conn = new GrpcConn(m.endpoint);
  const present = new Map<string, string>();
  try {
    let start: Uint8Array = Buffer.from("");
    let pinned = 0n;
    for (let page = 0; page < 1000; page++) {
      const res = await conn.range({ key: start.length ? start : Buffer.from([0]), rangeEnd: Buffer.from([0]), limit: 2000n, revision: pinned });
      pinned = res.header!.revision!;
      for (const kv of res.kvs) present.set(Buffer.from(kv.key!).toString(), Buffer.from(kv.value!).toString());
      if (!res.more) break;
      start = Buffer.concat([Buffer.from(res.kvs[res.kvs.length - 1].key!), Buffer.from([0])]);
    }
  } finally {
    conn.close();
  }
  const problems: string[] = [];
  for (const [key, value] of acked) {
    if (value === null && present.has(key)) problems.push(`${key}: deleted (acknowledged) but present`);
    if (value !== null && present.get(key) !== value) problems.push(`${key}: ${present.has(key) ? "wrong value" : "LOST"}`);
  }
  if (problems.length) throw new Error(`${context}: ${problems.length} problem(s):\n  ${problems.slice(0, 10).join("\n  ")}\n--- log ---\n${m.logs().slice(-3000)}`);
}

describe("defrag crash safety", () => {
  test(
    "kill -9 in the middle of a defrag under writes loses nothing acknowledged",
    async () => {
      let m = await start();
      await fill(m);
      let conn = new GrpcConn(m.endpoint);
      const first = await status(conn);
      expect(Number(first.dbSize)).toBeGreaterThan(2 * Number(first.dbSizeInUse));
      conn.close();

      for (let round = 0; round < KILL_ROUNDS; round++) {
        conn = new GrpcConn(m.endpoint);
        const w = writers(m, round);
        await Bun.sleep(100);
        const sizeAtStart = statSync(dbFile(m)).size;
        let finished = false;
        const d = defrag(conn).then(
          () => (finished = true),
          () => {}, // killed
        );
        // Kill once the file has shrunk (steps are being checkpointed) by at least 5% (round 0) or 20% more.
        const target = sizeAtStart * (round === 0 ? 0.95 : 0.8);
        const deadline = Date.now() + 60_000;
        while (!finished && Date.now() < deadline && statSync(dbFile(m)).size > target) await Bun.sleep(2);
        expect(finished).toBe(false); // the kill lands in the middle of the defrag, not after it
        const killedAt = statSync(dbFile(m)).size;
        await m.stop("SIGKILL");
        await d;
        await w.stop();
        conn.close();
        m = await start(m.dataDir);
        await verify(m, `after kill ${round + 1} during defrag`);
        console.log(`kill ${round + 1}: db file ${(sizeAtStart / 1e6).toFixed(1)} MB → ${(killedAt / 1e6).toFixed(1)} MB when killed; ${acked.size} acknowledged keys intact`);
      }

      // A defrag left to finish: dbSize shrinks to about what is in use, the data stays.
      conn = new GrpcConn(m.endpoint);
      const before = await status(conn);
      await defrag(conn);
      const after = await status(conn);
      conn.close();
      expect(Number(after.dbSize)).toBeLessThan(Number(before.dbSize));
      expect(Number(after.dbSize)).toBeLessThan(1.5 * Number(after.dbSizeInUse));
      await verify(m, "after a completed defrag");
    },
    240_000,
  );
});
