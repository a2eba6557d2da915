import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../pkg/prng.ts";
import type { Ready } from "../../raft/raw-node.ts";
import { MemoryStorage } from "../../raft/storage.ts";
import { type Entry, type Message, type NodeId } from "../../raft/types.ts";
import { RaftNode, type RaftNodeIO } from "./raft-node.ts";

/** An in-memory member: persistence is instant unless `slowDisk` holds it; applied data is recorded. */
interface Member {
  node: RaftNode;
  applied: string[];
  failpoints: string[];
  /** While set, persist() returns a promise that this member's test resolves by hand. */
  slowDisk: boolean;
  pendingSaves: (() => void)[];
  /** A Ready whose save has not finished: the loop handles one Ready at a time. */
  busy: boolean;
}

function cluster(n: number, opts: { maxApplyLag?: number; maxCommittedSizePerReady?: number } = {}) {
  const ids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
  const queue: Message[] = [];
  /** Members whose messages are dropped both ways. */
  const isolated = new Set<NodeId>();
  const members = new Map<NodeId, Member>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    (storage.snapshot.meta.confState as { voters: NodeId[] }).voters = [...ids];
    const m: Member = { node: undefined as unknown as RaftNode, applied: [], failpoints: [], slowDisk: false, pendingSaves: [], busy: false };
    const io: RaftNodeIO = {
      persist: (_rd: Ready) => (m.slowDisk ? new Promise<void>((resolve) => m.pendingSaves.push(resolve)) : undefined),
      installSnapshot: () => {
        throw new Error("no snapshots in these tests");
      },
      apply: (entries: Entry[]) => {
        for (const e of entries) if (e.data.length) m.applied.push(new TextDecoder().decode(e.data));
      },
      send: (msgs) => queue.push(...msgs),
    };
    m.node = new RaftNode({
      id,
      storage,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(Number(id)),
      io,
      maxApplyLag: opts.maxApplyLag,
      maxCommittedSizePerReady: opts.maxCommittedSizePerReady,
      failpoint: (name) => m.failpoints.push(name),
    });
    members.set(id, m);
  }
  /** Runs every member's Readies and delivers messages until nothing moves (slow disks stay pending). */
  async function settle(): Promise<void> {
    for (let round = 0; round < 200; round++) {
      let moved = false;
      for (const m of members.values()) {
        if (m.busy) continue;
        const r = m.node.processReady();
        if (r === false) continue;
        moved = true;
        if (r !== true) {
          // A slow disk: this member's loop waits for the save, as the server's does.
          m.busy = true;
          void r.then(() => (m.busy = false));
        }
      }
      while (queue.length) {
        moved = true;
        const msg = queue.shift()!;
        if (isolated.has(msg.to) || isolated.has(msg.from)) continue;
        members.get(msg.to)?.node.step(msg);
      }
      await Promise.resolve();
      if (!moved) return;
    }
  }
  return { members, settle, isolated, queue, member: (id: number) => members.get(BigInt(id))! };
}

const enc = (s: string) => new TextEncoder().encode(s);

describe("RaftNode: the one Ready loop", () => {
  test("a lone member elects itself, and a proposal is applied once it is durable, in order", async () => {
    const c = cluster(1);
    const m = c.member(1);
    m.node.campaign();
    await c.settle();
    expect(m.node.isLeader).toBe(true);
    m.node.propose(enc("a"));
    m.node.propose(enc("b"));
    await c.settle();
    expect(m.applied).toEqual(["a", "b"]);
  });

  test("the named failpoints are hit in the Ready loop's order", async () => {
    const c = cluster(3);
    c.member(1).node.campaign();
    await c.settle();
    for (const m of c.members.values()) m.failpoints.length = 0;
    c.member(1).node.propose(enc("x"));
    await c.settle();
    const leader = c.member(1).failpoints;
    // The leader's first Ready: send the appends, then save the entry.
    expect(leader.slice(0, 4)).toEqual(["raftBeforeLeaderSend", "raftAfterLeaderSend", "raftBeforeSave", "raftAfterSave"]);
    expect(leader).toContain("raftBeforeApply");
    // A follower saves before it answers, and advances last.
    const follower = c.member(2).failpoints;
    const save = follower.indexOf("raftAfterSave");
    const send = follower.indexOf("raftBeforeFollowerSend");
    expect(save).toBeGreaterThanOrEqual(0);
    expect(send).toBeGreaterThan(save);
    expect(follower.indexOf("raftBeforeAdvance")).toBeGreaterThan(send);
    expect(c.member(2).applied).toEqual(["x"]);
  });

  test("backpressure: a member whose apply lags commit by more than the bound refuses proposals with etcd's 'too many requests'", async () => {
    // One entry per Ready: a follower that learns of many committed entries at once applies them over
    // several Readies, and meanwhile its commit index is far ahead of what it applied.
    const c = cluster(3, { maxApplyLag: 5, maxCommittedSizePerReady: 1 });
    const leader = c.member(1);
    const lagging = c.member(3);
    leader.node.campaign();
    await c.settle();
    c.isolated.add(3n);
    for (let i = 0; i < 20; i++) leader.node.propose(enc(`p${i}`));
    await c.settle();
    expect(c.member(2).applied.length).toBe(20);
    c.isolated.delete(3n);
    // Let the cluster run one Ready at a time until 3 knows of the entries it has not applied.
    leader.node.tick();
    for (let round = 0; round < 100 && lagging.node.committed - lagging.node.applied <= 5; round++) {
      for (const m of c.members.values()) m.node.processReady();
      for (const m of c.queue.splice(0)) c.members.get(m.to)?.node.step(m);
    }
    expect(lagging.node.committed - lagging.node.applied).toBeGreaterThan(5);
    expect(() => lagging.node.propose(enc("refused"))).toThrow("etcdserver: too many requests");
    // Once it has applied (one entry per Ready), it takes proposals again.
    await c.settle();
    expect(lagging.applied.length).toBe(20);
    expect(() => lagging.node.propose(enc("taken"))).not.toThrow();
    await c.settle();
    expect(leader.applied).toContain("taken");
  });
});
