// Crash test: no acknowledged write is ever lost, whatever the moment the process dies.
//
// 50 concurrent gRPC clients put distinct keys as fast as they can; the member is killed with SIGKILL
// at a seeded random moment (or dies by itself at a WAL failpoint, just before or just after
// fdatasync), restarted on the same data dir, and a linearizable Range must return every
// acknowledged key with its value at exactly the revision its Put response reported.
//
// Replay a failure with CRASH_SEED=<seed> (printed at the start and in every failure message).
import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, freePort, startMember, type Member } from "./harness.ts";
import { GrpcConn, prefixEnd } from "./grpc-raw.ts";
import { seededRandom } from "../../src/pkg/prng.ts";

const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
console.log(`crash test seed: ${SEED} (replay with CRASH_SEED=${SEED})`);

const CLIENTS = 50;
const KILL_ROUNDS = 5;
const MAX_PUTS_PER_CLIENT_PER_ROUND = 20_000; // a bound only: rounds end by crash well before
const DRIVE_LIMIT_MS = 10_000; // no round drives clients longer than this
const PUT_TIMEOUT_MS = 5_000;
const PREFIX = "client-";
const PAGE = 5_000n;
/** Start without any failpoint even if the caller's environment arms one. */
const NO_FAILPOINT = { ETCD_TS_FAILPOINT: "", ETCD_TS_FAILPOINT_AFTER: "" };


interface Ack {
  value: string;
  revision: bigint;
}

/** Everything the clients learned, accumulated over every crash of one data dir. */
class Ledger {
  acked = new Map<string, Ack>();
  attempted = new Set<string>();
  next = new Array<number>(CLIENTS).fill(0); // per-client counter: keys are never reused, even across rounds
  unexpected: string[] = []; // put failures while the server was supposed to be alive
}

interface DriveResult {
  acked: number;
  failed: number;
}

/**
 * Runs CLIENTS concurrent writers against m until each sees a failed call after `crashed()` became
 * true or the process exited (or hits the count/time bounds). A put counts as acknowledged only when
 * its response arrived with grpc-status 0.
 */
async function drive(m: Member, ledger: Ledger, crashed: () => boolean): Promise<DriveResult> {
  const deadline = Date.now() + DRIVE_LIMIT_MS;
  const dead = () => crashed() || m.proc.exitCode !== null || m.proc.signalCode !== null;
  // One listener for all clients: resolves when the process is gone.
  const exited = new Promise<void>((r) => (dead() ? r() : m.proc.once("exit", () => r())));
  let acked = 0;
  let failed = 0;
  const client = async (c: number) => {
    const conn = new GrpcConn(m.endpoint);
    try {
      for (let i = 0; i < MAX_PUTS_PER_CLIENT_PER_ROUND && Date.now() < deadline; i++) {
        const n = ledger.next[c]++;
        const key = `${PREFIX}${c}-${n}`;
        const value = `v-${c}-${n}`;
        ledger.attempted.add(key);
        try {
          const res = await conn.put(key, value, PUT_TIMEOUT_MS);
          const revision = res.header?.revision;
          if (typeof revision !== "bigint" || revision <= 0n) {
            ledger.unexpected.push(`put ${key} acknowledged without a header revision: ${String(revision)}`);
            continue;
          }
          ledger.acked.set(key, { value, revision });
          acked++;
        } catch (err) {
          failed++;
          if (!dead()) {
            // The failure may precede the exit event by a moment: give the process a chance to be seen dead.
            await Promise.race([exited, Bun.sleep(1_000)]);
          }
          if (!dead()) ledger.unexpected.push(`put ${key} failed while the server was alive: ${(err as Error).message}`);
          return;
        }
      }
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  return { acked, failed };
}

interface Verified {
  present: number;
  storeRevision: bigint;
}

/** Checks, on a restarted member, every promise the acknowledgements made. Returns what it saw. */
async function verify(m: Member, ledger: Ledger, context: string): Promise<Verified> {
  const conn = new GrpcConn(m.endpoint);
  const kvs = new Map<string, { value: string; mod: bigint; create: bigint; version: bigint }>();
  let storeRevision = 0n;
  try {
    const end = prefixEnd(Buffer.from(PREFIX));
    let start: Uint8Array = Buffer.from(PREFIX);
    const maxPages = Math.ceil(ledger.attempted.size / Number(PAGE)) + 2;
    let pinned = 0n; // every page reads the same revision, so the pages form one consistent snapshot
    for (let page = 0; page <= maxPages; page++) {
      const res = await conn.range({ key: start, rangeEnd: end, limit: PAGE, revision: pinned, serializable: false });
      if (pinned === 0n) pinned = storeRevision = res.header?.revision ?? 0n;
      if (pinned === 0n) throw new Error(`${context}: range response without a header revision`);
      for (const kv of res.kvs) {
        kvs.set(Buffer.from(kv.key ?? []).toString(), {
          value: Buffer.from(kv.value ?? []).toString(),
          mod: kv.modRevision ?? 0n,
          create: kv.createRevision ?? 0n,
          version: kv.version ?? 0n,
        });
      }
      if (!res.more) break;
      if (page === maxPages) throw new Error(`${context}: range did not end after ${maxPages} pages`);
      const last = res.kvs[res.kvs.length - 1].key ?? new Uint8Array(0);
      start = Buffer.concat([Buffer.from(last), Buffer.from([0])]);
    }
  } finally {
    conn.close();
  }

  const problems: string[] = [];
  const note = (p: string) => problems.push(p);
  let maxAcked = 0n;
  const ackedRevs = new Map<bigint, string>();
  for (const [key, ack] of ledger.acked) {
    if (ack.revision > maxAcked) maxAcked = ack.revision;
    const other = ackedRevs.get(ack.revision);
    if (other !== undefined) note(`puts ${other} and ${key} were both acknowledged at revision ${ack.revision}`);
    ackedRevs.set(ack.revision, key);
    const kv = kvs.get(key);
    if (!kv) note(`LOST: ${key} (acknowledged at revision ${ack.revision}) is missing`);
    else if (kv.value !== ack.value) note(`${key}: value ${JSON.stringify(kv.value)}, acknowledged ${JSON.stringify(ack.value)}`);
    else if (kv.mod !== ack.revision) note(`${key}: mod_revision ${kv.mod}, acknowledged revision ${ack.revision}`);
  }
  if (storeRevision < maxAcked) note(`store revision ${storeRevision} is below the largest acknowledged revision ${maxAcked}`);
  // Keys present without an acknowledgement are allowed (in flight at the crash) but must be real and intact.
  const modRevs = new Map<bigint, string>();
  for (const [key, kv] of kvs) {
    if (!ledger.attempted.has(key)) note(`${key} is present but no client ever wrote it`);
    const m = /^client-(\d+)-(\d+)$/.exec(key);
    if (!m || kv.value !== `v-${m[1]}-${m[2]}`) note(`${key}: corrupt value ${JSON.stringify(kv.value)}`);
    if (kv.version !== 1n || kv.create !== kv.mod) note(`${key}: written once, yet version ${kv.version}, create ${kv.create}, mod ${kv.mod}`);
    const other = modRevs.get(kv.mod);
    if (other !== undefined) note(`${other} and ${key} share mod_revision ${kv.mod}`);
    modRevs.set(kv.mod, key);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20).join("\n  ");
    throw new Error(
      `${context} [seed ${SEED}, replay with CRASH_SEED=${SEED}]: ${problems.length} problem(s) among ` +
        `${ledger.acked.size} acknowledged puts and ${kvs.size} keys present:\n  ${shown}\n--- restarted member log ---\n${m.logs().slice(-4000)}`,
    );
  }
  return { present: kvs.size, storeRevision };
}

/** What the restarted member's log says about recovery (informational only, never asserted). */
function recoveryNote(m: Member): string {
  const replaying = /"replaying":(\d+)/.exec(m.logs())?.[1] ?? "?";
  const torn = m.logs().includes("repaired a torn WAL tail") ? "repaired a torn WAL tail" : "no torn tail";
  return `restart replayed ${replaying} WAL entries, ${torn}`;
}

function expectNoUnexpected(ledger: Ledger, context: string, m: Member): void {
  if (ledger.unexpected.length === 0) return;
  throw new Error(
    `${context} [seed ${SEED}]: ${ledger.unexpected.length} unexpected put outcome(s):\n  ${ledger.unexpected.slice(0, 10).join("\n  ")}` +
      `\n--- member log ---\n${m.logs().slice(-4000)}`,
  );
}

const started: Member[] = [];
async function start(opts: Parameters<typeof startMember>[0]): Promise<Member> {
  const m = await startMember(opts);
  started.push(m);
  return m;
}

afterAll(async () => {
  const dirs = new Set<string>();
  for (const m of started) {
    await m.stop("SIGKILL");
    dirs.add(m.dataDir);
  }
  for (const dir of dirs) cleanup({ dataDir: dir } as Member);
});

describe("crash safety: no acknowledged put is lost", () => {
  test(
    `kill -9 at ${KILL_ROUNDS} random moments under ${CLIENTS} concurrent writers, restarting on the same data dir`,
    async () => {
      const rand = seededRandom(SEED);
      const ledger = new Ledger();
      const port = await freePort();
      let m = await start({ port, env: NO_FAILPOINT });
      const dataDir = m.dataDir;
      for (let round = 1; round <= KILL_ROUNDS; round++) {
        const delayMs = 200 + Math.floor(rand() * 1300);
        const context = `kill round ${round}/${KILL_ROUNDS} (SIGKILL after ${delayMs} ms)`;
        let killed = false;
        const driving = drive(m, ledger, () => killed);
        await Bun.sleep(delayMs);
        killed = true;
        m.proc.kill("SIGKILL");
        const exit = await m.stop("SIGKILL");
        const { acked, failed } = await driving;
        expect(m.proc.signalCode, `${context}: the member should have died of SIGKILL (exit ${exit}) [seed ${SEED}]`).toBe("SIGKILL");
        expectNoUnexpected(ledger, context, m);
        // Without acknowledged puts in this round the round proves nothing.
        expect(acked, `${context}: no put was acknowledged before the kill [seed ${SEED}]`).toBeGreaterThan(0);

        // Odd rounds restart with a small snapshot count, so later crashes also land in checkpoints.
        const args = round % 2 === 1 ? ["--snapshot-count", "500"] : [];
        m = await start({ dataDir, port, args, env: NO_FAILPOINT });
        const v = await verify(m, ledger, context);
        console.log(
          `${context}: ${acked} acknowledged this round (${failed} cut off by the kill); ` +
            `${ledger.acked.size} acknowledged in total verified, ${v.present} keys present, store revision ${v.storeRevision}; ${recoveryNote(m)}`,
        );
      }
      await m.stop();
    },
    60_000,
  );

  test(
    "a WAL write or fsync that fails stops the member (exit status 1, one fatal line), and a restart keeps every acknowledged put",
    async () => {
      const ledger = new Ledger();
      // The error stands for the fsync's: the batch is written, and then the server is told it failed.
      const env = { ETCD_TS_FAILPOINT: "wal-before-sync", ETCD_TS_FAILPOINT_AFTER: "40", ETCD_TS_FAILPOINT_ACTION: "error" };
      const m = await start({ env });
      const exited = new Promise<number | null>((r) => (m.proc.exitCode !== null ? r(m.proc.exitCode) : m.proc.once("exit", (code) => r(code))));
      const { acked, failed } = await drive(m, ledger, () => false);
      const code = await Promise.race([exited, Bun.sleep(10_000).then(() => "still running" as const)]);
      const logs = m.logs();
      expect(code, `the member should stop with status 1 [seed ${SEED}]\n${logs.slice(-2000)}`).toBe(1);
      expect(logs).toContain('"msg":"fatal error: stopping"');
      expect(logs).toContain("injected fault at failpoint wal-before-sync");
      // While it stops, writes are refused: what a client of a stopping member sees, not a lost write.
      for (const u of ledger.unexpected) expect(u).toMatch(/failed while the server was alive: (etcdserver: server stopped|.*(closed|reset|GOAWAY|unavailable|connection).*)$/i);
      expect(acked, "no put was acknowledged before the failure").toBeGreaterThan(0);
      const restarted = await start({ dataDir: m.dataDir, env: NO_FAILPOINT });
      const v = await verify(restarted, ledger, "after a failed WAL sync");
      console.log(`failed WAL sync: ${acked} acknowledged (${failed} refused), ${v.present} keys present after the restart, store revision ${v.storeRevision}`);
      await restarted.stop();
    },
    40_000,
  );

  for (const fp of ["wal-before-sync", "wal-after-sync"] as const) {
    test(
      `process dies at the ${fp} failpoint, then a restart keeps every acknowledged put`,
      async () => {
        const rand = seededRandom((SEED ^ (fp === "wal-before-sync" ? 0x5bd1e995 : 0x1b873593)) >>> 0);
        const ledger = new Ledger();
        let dataDir: string | undefined;
        // Two crashes on the same data dir: the second replays a WAL that already survived one.
        for (let crash = 1; crash <= 2; crash++) {
          const afterBatches = 20 + Math.floor(rand() * 80);
          const context = `${fp} crash ${crash}/2 (ETCD_TS_FAILPOINT_AFTER=${afterBatches})`;
          const m = await start({ dataDir, env: { ETCD_TS_FAILPOINT: fp, ETCD_TS_FAILPOINT_AFTER: String(afterBatches) } });
          dataDir = m.dataDir;
          const exited = new Promise<number | null>((r) => {
            if (m.proc.exitCode !== null) r(m.proc.exitCode);
            else m.proc.once("exit", (code) => r(code));
          });
          const { acked, failed } = await drive(m, ledger, () => false);
          const code = await Promise.race([exited, Bun.sleep(5_000).then(() => "still running" as const)]);
          expect(code, `${context}: the failpoint should have ended the process with 137 [seed ${SEED}]\n${m.logs().slice(-2000)}`).toBe(137);
          expectNoUnexpected(ledger, context, m);
          expect(acked, `${context}: no put was acknowledged before the failpoint fired [seed ${SEED}]`).toBeGreaterThan(0);

          const restarted = await start({ dataDir, env: NO_FAILPOINT });
          const v = await verify(restarted, ledger, context);
          console.log(
            `${context}: ${acked} acknowledged this run (${failed} cut off); ${ledger.acked.size} acknowledged in total verified, ` +
              `${v.present} keys present, store revision ${v.storeRevision}; ${recoveryNote(restarted)}`,
          );
          await restarted.stop();
        }
      },
      30_000,
    );
  }
});
