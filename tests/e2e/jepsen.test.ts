// Jepsen-style test: a 3-member cluster of dist/etcd under peer network faults and crashes, checked
// for linearizability.
//
// Every member advertises a fault proxy's port as its peer URL (tests/support/fault-proxy.ts), so all
// member-to-member traffic crosses the proxies. CLIENTS concurrent gRPC clients issue random put,
// linearizable get and compare-and-set txns on a few keys, round-robin over the members, each with a
// 2 s deadline (a write that times out or loses its connection is indeterminate). Meanwhile a seeded
// nemesis changes the fault every ~2 s: isolate a member (often the leader), one-way partitions,
// latency, connection resets, kill -9 and restart of a member on its data dir. At the end everything
// is healed, a final linearizable read of every key joins the history, and the history must be
// linearizable per key (tests/support/linearizability.ts); an inconclusive check fails too. Then every
// member must converge on the same values.
//
// JEPSEN_SECONDS=<n> runs longer (default 20); JEPSEN_SEED=<seed> replays the same choices of faults
// and operations (timing, and so the interleaving, is not reproducible). JEPSEN_SERIALIZABLE_READS=1
// is a self-test of the harness: gets become serializable (local, possibly stale) reads, which an
// isolated member serves, so the check is expected to FAIL.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { seededRandom } from "../../src/pkg/prng.ts";
import { PeerNetwork } from "../support/fault-proxy.ts";
import { checkKv, type KvInput, type KvOp, type KvOutput } from "../support/linearizability.ts";
import { GrpcConn, GrpcError } from "./grpc-raw.ts";
import { etcdctl, freePort, haveEtcdctl, requireTool, startMember, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

const SECONDS = Math.max(1, Math.min(3600, Number(process.env.JEPSEN_SECONDS ?? 20)));
const SEED = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const CLIENTS = 8;
const KEYS = ["jepsen/a", "jepsen/b", "jepsen/c", "jepsen/d", "jepsen/e"];
const OP_TIMEOUT_MS = 2_000;
const NEMESIS_INTERVAL_MS = 2_000;
/** a bound only: clients stop at the deadline well before */
const MAX_OPS_PER_CLIENT = 200_000;
const N = 3;
const SERIALIZABLE_READS = process.env.JEPSEN_SERIALIZABLE_READS === "1";

const enc = (s: string) => Buffer.from(s);
const dec = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString() : "");

/** One operation on the wire; resolves with its output or throws (GrpcError). */
async function invoke(conn: GrpcConn, input: KvInput, timeoutMs: number): Promise<KvOutput> {
  switch (input.kind) {
    case "put":
      await conn.put(input.key, input.value, timeoutMs);
      return { kind: "put" };
    case "get": {
      const r = await conn.range({ key: enc(input.key), serializable: SERIALIZABLE_READS }, timeoutMs); // linearizable by default
      return { kind: "get", value: r.kvs.length ? dec(r.kvs[0].value) : null };
    }
    case "cas": {
      const req = etcdserverpb.TxnRequest.encode({
        compare: [{ key: enc(input.key), target: etcdserverpb.Compare.CompareTarget.VALUE, result: etcdserverpb.Compare.CompareResult.EQUAL, value: enc(input.expect) }],
        success: [{ requestPut: { key: enc(input.key), value: enc(input.value) } }],
        failure: [{ requestRange: { key: enc(input.key) } }],
      }).finish();
      const r = etcdserverpb.TxnResponse.decode(await conn.unary("/etcdserverpb.KV/Txn", req, timeoutMs));
      if (r.succeeded) return { kind: "cas", succeeded: true };
      const kvs = r.responses[0]?.responseRange?.kvs;
      if (!kvs) throw new GrpcError("failed txn without its range response", null);
      return { kind: "cas", succeeded: false, value: kvs.length ? dec(kvs[0].value) : null };
    }
  }
}

async function status(conn: GrpcConn): Promise<etcdserverpb.StatusResponse> {
  return etcdserverpb.StatusResponse.decode(await conn.unary("/etcdserverpb.Maintenance/Status", etcdserverpb.StatusRequest.encode({}).finish(), 1000));
}

describe.if(run)("jepsen: linearizable KV under peer faults", () => {
  test(
    `${CLIENTS} clients, ${SECONDS} s of faults, history linearizable per key (seed ${SEED})`,
    async () => {
      console.log(`jepsen seed: ${SEED} (replay with JEPSEN_SEED=${SEED}; JEPSEN_SECONDS=${SECONDS})`);
      const t0 = performance.now();
      const now = () => performance.now() - t0;
      const log = (msg: string) => console.log(`[${(now() / 1000).toFixed(2)}s] ${msg}`);
      // Separate sequences: the nemesis's choices do not depend on how many ops the clients managed.
      const rnd = seededRandom(SEED);
      const pickWith = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

      const root = mkdtempSync(join(tmpdir(), "jepsen-"));
      const names = ["j0", "j1", "j2"];
      const clientPorts: number[] = [];
      const peerPorts: number[] = [];
      for (let i = 0; i < N; i++) clientPorts.push(await freePort());
      for (let i = 0; i < N; i++) peerPorts.push(await freePort());
      const net = await PeerNetwork.start(peerPorts);
      const proxyUrl = (i: number) => `http://127.0.0.1:${net.ports[i]}`;
      const argsFor = (i: number) => [
        "--name", names[i],
        "--initial-advertise-peer-urls", proxyUrl(i),
        "--initial-cluster-token", `jepsen-${SEED}`,
        "--initial-cluster", names.map((n, j) => `${n}=${proxyUrl(j)}`).join(","),
        "--initial-cluster-state", "new",
        // Small, so logs are compacted and members that were down or cut off catch up by snapshot
        // while the faults go on.
        "--snapshot-count", "300",
      ];
      const start = (i: number) => startMember({ dataDir: join(root, names[i]), port: clientPorts[i], peerPort: peerPorts[i], args: argsFor(i) });
      const members: (Member | null)[] = [null, null, null];
      const everyProcess: { name: string; m: Member }[] = [];
      const endpoints = clientPorts.map((p) => `127.0.0.1:${p}`);
      const conns: GrpcConn[] = [];
      const history: KvOp[] = [];
      const faultsApplied = new Map<string, number>();
      let passed = false;

      try {
        // All three together: none is healthy before a quorum exists.
        const started = await Promise.all([0, 1, 2].map(start));
        started.forEach((m, i) => {
          members[i] = m;
          everyProcess.push({ name: names[i], m });
        });
        const ids = await net.waitForIds();
        log(`cluster up through proxies ${net.ports.join(",")} → peer ports ${peerPorts.join(",")}; member ids ${ids.map((id) => id.toString(16)).join(",")}`);

        // ---- clients ------------------------------------------------------------------------
        const stopAt = performance.now() + SECONDS * 1000;
        const lastSeen = new Map<string, string>();
        const counts = { ok: 0, fail: 0, unknown: 0, notSent: 0 };
        const errorKinds = new Map<string, number>();
        const client = async (c: number) => {
          const mine = new Map<string, GrpcConn>();
          const connTo = (ep: string) => {
            let conn = mine.get(ep);
            if (!conn || conn.broken) {
              conn?.close();
              conn = new GrpcConn(ep);
              conns.push(conn);
              mine.set(ep, conn);
            }
            return conn;
          };
          const crnd = seededRandom((SEED + 1 + c) >>> 0);
          let seq = 0;
          for (let k = 0; k < MAX_OPS_PER_CLIENT && performance.now() < stopAt; k++) {
            const key = pickWith(crnd, KEYS);
            const r = crnd();
            const input: KvInput =
              r < 0.4
                ? { kind: "get", key }
                : r < 0.7
                  ? { kind: "put", key, value: `${c}.${seq++}` }
                  : { kind: "cas", key, expect: lastSeen.get(key) ?? "-", value: `${c}.${seq++}` };
            const endpoint = endpoints[(c + k) % N];
            const conn = connTo(endpoint);
            if (conn.broken) {
              counts.notSent++;
              await Bun.sleep(20);
              continue;
            }
            const call = now();
            try {
              const output = await invoke(conn, input, OP_TIMEOUT_MS);
              history.push({ client: c, input, call, ret: now(), output });
              counts.ok++;
              const seen = output.kind === "get" ? output.value : output.kind === "put" ? (input as { value: string }).value : output.succeeded ? (input as { value: string }).value : output.value;
              if (seen) lastSeen.set(key, seen);
            } catch (e) {
              if (!(e instanceof GrpcError)) throw e;
              const kind = e.message.replace(/\d+/g, "N").slice(0, 120);
              errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
              if (e.message.startsWith("connection unusable")) {
                counts.notSent++; // never sent: it did not happen
              } else if (input.kind === "get") {
                counts.fail++; // a failed read constrains nothing
              } else {
                // Any error on a write may hide a commit (timeouts, leader changes, lost connections).
                history.push({ client: c, input, call, ret: null });
                counts.unknown++;
              }
              await Bun.sleep(10 + crnd() * 40);
            }
          }
          for (const conn of mine.values()) conn.close();
        };

        // ---- nemesis ------------------------------------------------------------------------
        let killed: number | null = null;
        let lastLeader: number | null = null;
        let leaderChanges = 0;
        const restoreAll = async () => {
          net.heal();
          if (killed !== null) {
            const i = killed;
            killed = null;
            const m = await start(i);
            members[i] = m;
            everyProcess.push({ name: `${names[i]} (restarted)`, m });
            log(`restarted ${names[i]}`);
          }
        };
        const leaderIndex = async (): Promise<number | null> => {
          for (let i = 0; i < N; i++) {
            if (!members[i]) continue;
            const conn = new GrpcConn(endpoints[i]);
            try {
              const leader = (await status(conn)).leader;
              const at = ids.findIndex((id) => id === leader);
              if (at >= 0) return at;
            } catch {
            } finally {
              conn.close();
            }
          }
          return null;
        };
        const nemesis = async () => {
          // Each cycle goes through every kind of fault once, in a seeded order, so that even a short
          // run sees most of them.
          const kinds = ["isolate", "isolate-leader", "one-way-link", "one-way-member", "delay", "kill", "reset", "none"] as const;
          let cycle: (typeof kinds)[number][] = [];
          for (let round = 0; round < 10_000 && performance.now() + NEMESIS_INTERVAL_MS / 2 < stopAt; round++) {
            await restoreAll();
            if (performance.now() + NEMESIS_INTERVAL_MS / 2 >= stopAt) break;
            if (cycle.length === 0) {
              cycle = [...kinds];
              for (let i = cycle.length - 1; i > 0; i--) {
                const j = Math.floor(rnd() * (i + 1));
                [cycle[i], cycle[j]] = [cycle[j], cycle[i]];
              }
            }
            const fault = cycle.pop()!;
            const leader = await leaderIndex();
            if (leader !== null && leader !== lastLeader) {
              if (lastLeader !== null) leaderChanges++;
              lastLeader = leader;
            }
            const victim = fault === "isolate-leader" || (fault === "kill" && rnd() < 0.5) ? (leader ?? Math.floor(rnd() * N)) : Math.floor(rnd() * N);
            let what: string = fault;
            switch (fault) {
              case "isolate":
              case "isolate-leader":
                net.isolate(victim);
                what = `${fault} ${names[victim]}`;
                break;
              case "one-way-link": {
                const to = (victim + 1 + Math.floor(rnd() * (N - 1))) % N;
                net.partitionOneWay(victim, to);
                what = `drop ${names[victim]} → ${names[to]}`;
                break;
              }
              case "one-way-member": {
                const inbound = rnd() < 0.5;
                net.isolateOneWay(victim, inbound);
                what = inbound ? `${names[victim]} hears nobody (can still send)` : `${names[victim]} reaches nobody (can still hear)`;
                break;
              }
              case "delay": {
                const ms = 50 + Math.floor(rnd() * 151);
                net.delay(ms);
                what = `delay ${ms} ms on every peer link`;
                break;
              }
              case "kill":
                await members[victim]!.stop("SIGKILL");
                members[victim] = null;
                killed = victim;
                what = `kill -9 ${names[victim]}`;
                break;
              case "reset":
                what = `reset ${net.resetConnections()} peer connections`;
                break;
              case "none":
                what = "healthy";
                break;
            }
            faultsApplied.set(fault, (faultsApplied.get(fault) ?? 0) + 1);
            log(`nemesis: ${what} (leader was ${leader === null ? "unknown" : names[leader]})`);
            const hold = NEMESIS_INTERVAL_MS * (0.75 + rnd() * 0.75); // 1.5-3 s
            await Bun.sleep(Math.max(0, Math.min(hold, stopAt - performance.now())));
          }
          await restoreAll();
          log(`nemesis: healed everything; leader changes seen: ${leaderChanges}`);
        };

        await Promise.all([nemesis(), ...Array.from({ length: CLIENTS }, (_, c) => client(c))]);
        log(`clients done: ${counts.ok} ok, ${counts.unknown} indeterminate writes, ${counts.fail} failed reads, ${counts.notSent} not sent`);
        log(`client errors: ${[...errorKinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}× ${k}`).join("; ")}`);

        // ---- final reads after healing --------------------------------------------------------
        const finals = new Map<string, string | null>();
        const finalDeadline = performance.now() + 20_000;
        for (const key of KEYS) {
          for (let attempt = 0; !finals.has(key); attempt++) {
            if (performance.now() > finalDeadline) throw new Error(`no linearizable read of ${key} succeeded within 20 s after healing`);
            const conn = new GrpcConn(endpoints[attempt % N]);
            conns.push(conn);
            const input: KvInput = { kind: "get", key };
            const call = now();
            try {
              const output = await invoke(conn, input, OP_TIMEOUT_MS);
              history.push({ client: -1, input, call, ret: now(), output });
              finals.set(key, (output as { value: string | null }).value);
            } catch {
              await Bun.sleep(200);
            } finally {
              conn.close();
            }
          }
        }
        log(`final values: ${KEYS.map((k) => `${k}=${finals.get(k)}`).join(" ")}`);
        expect(counts.ok).toBeGreaterThan(100); // not a vacuous history

        // ---- linearizability ------------------------------------------------------------------
        const report = checkKv(history, { timeoutMs: 30_000 });
        for (const k of report.keys) {
          log(`check ${k.key}: ${k.verdict}, ${k.ops} ops searched (${k.unknownKept} indeterminate kept, ${k.pruned} pruned), ${k.steps} steps, ${k.ms.toFixed(0)} ms`);
        }
        log(`checked ${report.checkedOps} of ${report.totalOps} operations in ${report.ms.toFixed(0)} ms: ${report.verdict}`);
        log(`faults: ${[...faultsApplied].map(([f, n]) => `${f}×${n}`).join(", ")}; proxy stats ${JSON.stringify(net.stats())}`);
        if (report.verdict === "unknown") {
          throw new Error(`linearizability check inconclusive (search bound) with seed ${SEED}:\n${report.keys.filter((k) => k.verdict === "unknown").map((k) => k.detail).join("\n")}`);
        }
        if (report.verdict === "illegal") {
          throw new Error(`history is NOT linearizable (seed ${SEED}):\n${report.keys.filter((k) => k.verdict === "illegal").map((k) => k.detail).join("\n")}`);
        }

        // ---- convergence: every member applies the same values ----------------------------------
        const convergeDeadline = performance.now() + 15_000;
        for (let i = 0; i < N; i++) {
          const conn = new GrpcConn(endpoints[i]);
          conns.push(conn);
          for (const key of KEYS) {
            let got: string | null | undefined;
            while (got !== finals.get(key)) {
              if (performance.now() > convergeDeadline) throw new Error(`${names[i]} still has ${key}=${got} instead of ${finals.get(key)} 15 s after healing (seed ${SEED})`);
              try {
                const r = await conn.range({ key: enc(key), serializable: true }, OP_TIMEOUT_MS);
                got = r.kvs.length ? dec(r.kvs[0].value) : null;
              } catch {}
              if (got !== finals.get(key)) await Bun.sleep(100);
            }
          }
        }
        // Same history everywhere, not only the same final values (a member that caught up by snapshot
        // included): HashKV at the current revision, once every member has applied everything.
        let hashes: string[] = [];
        for (const deadline = performance.now() + 15_000; performance.now() < deadline; await Bun.sleep(200)) {
          const r = etcdctl(endpoints.join(","), ["endpoint", "hashkv", "-w", "json"]);
          if (r.status !== 0) continue;
          hashes = (JSON.parse(r.stdout) as { HashKV: { hash: number; header: { revision: number } } }[]).map((e) => `${e.HashKV.header.revision}:${e.HashKV.hash}`);
          if (hashes.length === N && new Set(hashes).size === 1) break;
        }
        expect(new Set(hashes).size).toBe(1);
        const installs = everyProcess.reduce((n, { m }) => n + m.logs().split("installed a snapshot from the leader").length - 1, 0);
        log(`all members converged, HashKV ${hashes[0]} on every member; ${installs} snapshot(s) installed; total ${(now() / 1000).toFixed(1)} s`);
        passed = true;
      } finally {
        for (const c of conns) c.close();
        for (const m of members) await m?.stop("SIGKILL");
        await net.close();
        if (!passed) {
          for (const { name, m } of everyProcess) console.error(`---- ${name} log (tail) ----\n${m.logs().slice(-3000)}`);
        }
        rmSync(root, { recursive: true, force: true });
      }
    },
    (SECONDS + 75) * 1000,
  );
});
