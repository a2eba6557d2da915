import { describe, expect, test } from "bun:test";
import { Errors } from "../../pkg/errors.ts";
import { CompactHashChecker, DataInconsistencyError, initialCorruptCheck, judgeCompactionHashes } from "./corrupt-check.ts";
import type { PeerHash } from "./peer-api.ts";

type Logged = { level: string; msg: string; fields?: Record<string, unknown> };

function logger() {
  const lines: Logged[] = [];
  return { lines, log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => lines.push({ level, msg, fields }) };
}

const h = (hash: number, revision: bigint, compactRevision = 0n): PeerHash => ({ hash, revision, compactRevision });

describe("initial corruption check", () => {
  const peers = [
    { id: 0xaan, peerURLs: ["http://10.0.0.2:2380"] },
    { id: 0xbbn, peerURLs: ["http://10.0.0.3:2380"] },
  ];

  test("passes when every peer has the same hash at this member's revision", async () => {
    const { lines, log } = logger();
    const asked: [bigint, bigint][] = [];
    await initialCorruptCheck({
      self: 0x11n,
      peers: () => peers,
      localHash: async () => h(7, 20n, 5n),
      peerHash: async (id, rev) => (asked.push([id, rev]), h(7, rev, 5n)),
      log,
    });
    expect(asked).toEqual([
      [0xaan, 20n],
      [0xbbn, 20n],
    ]);
    expect(lines.map((l) => l.msg)).toEqual(["starting initial corruption check", "initial corruption checking passed; no corruption"]);
  });

  test("refuses when a peer at the same compact revision has another hash, naming both members and the revision", async () => {
    const { lines, log } = logger();
    const err = await initialCorruptCheck({
      self: 0x11n,
      peers: () => peers,
      localHash: async () => h(7, 20n, 5n),
      peerHash: async (id, rev) => h(id === 0xbbn ? 9 : 7, rev, 5n),
      log,
    }).then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(DataInconsistencyError);
    expect((err as Error).message).toStartWith("11 found data inconsistency with peers: at revision 20 (compact revision 5) this member has hash 7 but member bb has hash 9.");
    const warn = lines.find((l) => l.msg === "found different hash values from remote peer");
    expect(warn?.level).toBe("warn");
    expect(warn?.fields).toMatchObject({ "local-member-id": "11", "remote-peer-id": "bb", "local-member-hash": 7, "remote-peer-hash": 9, "remote-peer-endpoints": ["http://10.0.0.3:2380"] });
    expect(lines.some((l) => l.msg.startsWith("initial corruption checking passed"))).toBe(false);
  });

  test("another hash at another compact revision, unreachable, slow or compacted peers: warned about, not fatal", async () => {
    const { lines, log } = logger();
    const answers: Record<string, () => PeerHash> = {
      aa: () => h(9, 20n, 8n), // compacted elsewhere: hashes are not comparable
      bb: () => {
        throw new Error(Errors.futureRev.message);
      },
      cc: () => {
        throw new Error(Errors.compacted.message);
      },
      dd: () => {
        throw new Error("connect ECONNREFUSED 10.0.0.5:2380");
      },
    };
    await initialCorruptCheck({
      self: 0x11n,
      peers: () => Object.keys(answers).map((x) => ({ id: BigInt(`0x${x}`), peerURLs: [] })),
      localHash: async () => h(7, 20n, 5n),
      peerHash: async (id) => answers[id.toString(16)](),
      log,
    });
    expect(lines.filter((l) => l.level === "warn").map((l) => [l.fields?.["remote-peer-id"], l.msg])).toEqual([
      ["aa", "found different compact revision values from remote peer"],
      ["bb", "cannot fetch hash from slow remote peer"],
      ["cc", "cannot fetch hash from remote peer; local member is behind"],
      ["dd", "failed hash kv request"],
    ]);
    expect(lines.at(-1)?.msg).toBe("initial corruption checking passed; no corruption");
  });
});

describe("compaction hashes compared (etcd's checkPeerHashes)", () => {
  const mine = h(1, 10n, 10n);

  test("all equal: consistent; a peer without an answer or at another compaction: incomplete", () => {
    const { log } = logger();
    expect(judgeCompactionHashes(1n, mine, [{ id: 2n, hash: h(1, 10n, 10n) }, { id: 3n, hash: h(1, 10n, 10n) }], log)).toEqual({ kind: "consistent" });
    expect(judgeCompactionHashes(1n, mine, [{ id: 2n, hash: h(1, 10n, 10n) }, { id: 3n }], log)).toEqual({ kind: "incomplete", checked: 1 });
    expect(judgeCompactionHashes(1n, mine, [{ id: 2n, hash: h(5, 10n, 4n) }], log)).toEqual({ kind: "incomplete", checked: 0 });
  });

  test("a minority with another hash is corrupt, whoever leads", () => {
    const { lines, log } = logger();
    expect(judgeCompactionHashes(1n, mine, [{ id: 2n, hash: h(1, 10n, 10n) }, { id: 3n, hash: h(2, 10n, 10n) }], log)).toEqual({
      kind: "mismatch",
      corrupt: [3n],
      groups: [{ hash: 2, members: [3n] }],
    });
    expect(lines.find((l) => l.msg === "Detected compaction hash mismatch")?.fields).toMatchObject({ "peer-hash": 2, "peer-ids": ["3"], "quorum-exist": true });
    // The leader itself in the minority.
    expect(judgeCompactionHashes(1n, mine, [{ id: 2n, hash: h(2, 10n, 10n) }, { id: 3n, hash: h(2, 10n, 10n) }], log)).toMatchObject({ kind: "mismatch", corrupt: [1n] });
  });

  test("no quorum on any hash (counting members that did not answer): member 0, the whole cluster", () => {
    const { lines, log } = logger();
    // 4 members: the leader and one peer agree, one differs, one is silent: 2 < quorum 3.
    const v = judgeCompactionHashes(1n, mine, [{ id: 2n, hash: h(1, 10n, 10n) }, { id: 3n, hash: h(2, 10n, 10n) }, { id: 4n }], log);
    expect(v).toMatchObject({ kind: "mismatch", corrupt: [0n] });
    expect(lines.some((l) => l.level === "error" && l.msg.startsWith("Detected compaction hash mismatch but cannot identify the corrupted members"))).toBe(true);
  });
});

describe("CompactHashChecker", () => {
  test("checks the newest compaction point first, goes to older ones while peers cannot answer, and never re-asks a checked one", async () => {
    const { log } = logger();
    const asked: bigint[] = [];
    let peerHas = new Set([5n]); // the peer has hashed only the older compaction
    const raised: bigint[] = [];
    const checker = new CompactHashChecker({
      self: 1n,
      peers: () => [2n],
      hashes: () => [h(50, 5n, 5n), h(90, 9n, 9n)],
      peerHash: async (_id, rev) => {
        asked.push(rev);
        if (!peerHas.has(rev)) throw Errors.compacted;
        return h(rev === 5n ? 50 : 90, rev, rev);
      },
      raiseCorrupt: async (id) => void raised.push(id),
      log,
    });
    expect(await checker.check()).toEqual([]);
    expect(asked).toEqual([9n, 5n]);
    expect(checker.latestChecked).toBe(5n);
    peerHas = new Set([9n]);
    asked.length = 0;
    await checker.check();
    expect(asked).toEqual([9n]);
    expect(checker.latestChecked).toBe(9n);
    asked.length = 0;
    await checker.check();
    expect(asked).toEqual([]); // nothing new to check
    expect(raised).toEqual([]);
  });

  test("a mismatch raises CORRUPT for the odd member and stops the pass", async () => {
    const { log } = logger();
    const raised: bigint[] = [];
    const checker = new CompactHashChecker({
      self: 1n,
      peers: () => [2n, 3n],
      hashes: () => [h(50, 5n, 5n), h(90, 9n, 9n)],
      peerHash: async (id, rev) => h(id === 3n ? 91 : 90, rev, rev),
      raiseCorrupt: async (id) => void raised.push(id),
      log,
    });
    expect(await checker.check()).toEqual([3n]);
    expect(raised).toEqual([3n]);
    expect(checker.latestChecked).toBe(0n);
  });
});
