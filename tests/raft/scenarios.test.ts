// The Raft paper's cases, message by message, on an in-memory cluster.
import { describe, expect, test } from "bun:test";
import { MessageType, StateType } from "../../src/raft/types.ts";
import { Cluster } from "./network.ts";

describe("election", () => {
  test("a campaign wins a majority and the leader's no-op commits everywhere", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    expect(c.node(1).status().state).toBe(StateType.Leader);
    expect(c.node(2).lead).toBe(1n);
    expect(c.node(1).term).toBe(1);
    for (const id of [1, 2, 3]) expect(c.node(id).committed).toBe(1);
  });

  test("split vote: no leader in that term, one in a later term", () => {
    const c = new Cluster([1, 2, 3, 4], { preVote: false });
    c.partition([1, 2], [3, 4]);
    c.node(1).campaign();
    c.node(3).campaign();
    c.stabilize();
    expect(c.leaders()).toHaveLength(0);
    c.heal();
    c.tick(60);
    expect(c.leaders()).toHaveLength(1);
  });

  for (const unsafe of [false, true]) {
    test(`a node with a stale log ${unsafe ? "wins with the planted bug (votes without the log check)" : "cannot win"}`, () => {
      // With check-quorum, 1 and 2 would hold a leader lease and ignore 3's campaign before looking at
      // its log (the planted bug then changed nothing); without it the log is the only reason to refuse.
      const c = new Cluster([1, 2, 3], { checkQuorum: false, unsafeVoteWithoutLogCheck: unsafe });
      c.campaign(1);
      c.isolate(3);
      expect(c.propose(1, "x")).toBe(true);
      c.heal();
      // 3 missed "x" and restarts (no leader known), then campaigns: 1 and 2 refuse it, it stays a
      // follower, and the leader's term survives.
      c.restart(3);
      c.campaign(3);
      if (unsafe) {
        expect(c.leaders()).toEqual([3n]);
        return;
      }
      expect(c.node(3).isLeader).toBe(false);
      expect(c.leaders()).toEqual([1n]);
      expect(c.node(1).term).toBe(1);
    });
  }

  test("pre-vote: a node rejoining after a partition does not raise the term", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.tick(100, [3]); // 3 campaigns again and again, alone
    expect(c.node(3).term).toBe(1);
    c.heal();
    c.tick(5);
    expect(c.leaders()).toEqual([1n]);
    expect(c.node(1).term).toBe(1);
  });

  test("check-quorum: a leader cut off from the majority steps down", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(1);
    c.tick(25);
    expect(c.node(1).isLeader).toBe(false);
    // And the majority side elected its own leader in a higher term.
    const majority = c.leaders().filter((id) => id !== 1n);
    expect(majority).toHaveLength(1);
  });
});

describe("replication", () => {
  test("proposals on the leader and forwarded from followers commit and apply in order everywhere", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    expect(c.propose(1, "a")).toBe(true);
    expect(c.propose(2, "b")).toBe(true);
    for (const id of [1, 2, 3]) expect(c.appliedData(id)).toEqual(["a", "b"]);
  });

  test("a follower with a conflicting suffix is repaired", () => {
    const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.campaign(1);
    c.isolate(1);
    // The old leader appends entries nobody else sees.
    c.node(1).propose(new TextEncoder().encode("lost-1"));
    c.node(1).propose(new TextEncoder().encode("lost-2"));
    c.stabilize();
    c.heal();
    c.isolate(1);
    c.heal();
    c.cut.add("1-2").add("1-3").add("2-1").add("3-1");
    c.campaign(2);
    expect(c.propose(2, "kept")).toBe(true);
    c.heal();
    c.tick(3);
    for (const id of [1, 2, 3]) expect(c.appliedData(id)).toEqual(["kept"]);
    expect(c.node(1).status().lastIndex).toBe(c.node(2).status().lastIndex);
  });

  test("a partitioned old leader cannot commit", () => {
    const c = new Cluster([1, 2, 3, 4, 5], { checkQuorum: false });
    c.campaign(1);
    c.partition([1, 2], [3, 4, 5]);
    c.node(1).propose(new TextEncoder().encode("minority"));
    c.stabilize();
    expect(c.appliedData(1)).toEqual([]);
    c.campaign(3);
    expect(c.propose(3, "majority")).toBe(true);
    c.heal();
    c.tick(3);
    for (const id of [1, 2, 3, 4, 5]) expect(c.appliedData(id)).toEqual(["majority"]);
  });

  for (const unsafe of [false, true]) {
    test(`figure 8: an entry of an earlier term is ${unsafe ? "wrongly committed with the planted bug" : "not committed by counting replicas"}`, () => {
      // S1 leads term 1 and gets "x" (index 2) to S2 only. S5 wins term 2 (votes of 3, 4) but its
      // entry reaches nobody. S1 wins term 3 and, one entry per message, copies "x" to S3: "x" is now
      // on a majority, but of term 1 — committing it now is unsafe, because S5 (whose last term, 2, is
      // higher than "x"'s) could still win and overwrite it. Only the term-3 entry after it commits both.
      const c = new Cluster([1, 2, 3, 4, 5], { preVote: false, checkQuorum: false, maxSizePerMsg: 1, unsafeCommitPreviousTerms: unsafe });
      c.campaign(1);
      c.partition([1, 2], [3, 4, 5]);
      c.node(1).propose(new TextEncoder().encode("x"));
      c.stabilize();
      c.allow = (m) => !(m.from === 5n && m.type === MessageType.App);
      c.campaign(5);
      expect(c.node(5).isLeader).toBe(true);
      c.allow = () => true;
      c.heal();
      c.partition([5, 4], [1, 2, 3]);
      c.restart(1); // S1 loses its term-1 leadership: it restarts, its log ("x" included) kept
      c.campaign(1); // term 2: lost, S3 already voted for S5
      // From now on S3 gets "x" (index 2) but not the term-3 entry after it; S2 gets everything.
      c.allow = (m) =>
        !(m.type === MessageType.App && m.to === 3n && m.entries.some((e) => e.index === 3) && c.node(3).status().lastIndex >= 2);
      c.campaign(1); // term 3
      expect(c.node(1).isLeader).toBe(true);
      expect(c.node(1).term).toBe(3);
      c.tick(2);
      expect(c.node(3).logTerm(2)).toBe(1);
      expect(c.node(1).committed).toBe(unsafe ? 2 : 1);
      c.allow = () => true;
      c.tick(2);
      expect(c.node(1).committed).toBe(3);
    });
  }
});

describe("reads", () => {
  test("ReadIndex on the leader answers after a quorum heartbeat with the commit index", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, "a");
    c.node(1).readIndex(new TextEncoder().encode("r1"));
    c.stabilize();
    expect(c.reads.get(1n)).toEqual([{ index: 2, ctx: "r1" }]);
  });

  test("a leader cut off from the quorum answers no ReadIndex", () => {
    const c = new Cluster([1, 2, 3], { checkQuorum: false });
    c.campaign(1);
    c.propose(1, "a");
    c.isolate(1);
    c.node(1).readIndex(new TextEncoder().encode("stale"));
    c.stabilize();
    c.tick(3, [1]);
    expect(c.reads.get(1n)).toEqual([]);
  });

  test("ReadIndex from a follower is answered through the leader", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, "a");
    c.node(2).readIndex(new TextEncoder().encode("r2"));
    c.stabilize();
    expect(c.reads.get(2n)).toEqual([{ index: 2, ctx: "r2" }]);
    expect(c.reads.get(1n)).toEqual([]);
  });
});

describe("membership", () => {
  test("a learner receives the log but never votes nor counts toward the quorum", () => {
    const c = new Cluster([1, 2], { learners: [3] });
    c.campaign(1);
    c.propose(1, "a");
    expect(c.appliedData(3)).toEqual(["a"]);
    c.isolate(2);
    // Leader + learner are not a quorum of {1, 2}.
    c.node(1).propose(new TextEncoder().encode("b"));
    c.stabilize();
    expect(c.appliedData(1)).toEqual(["a"]);
    c.tick(30, [3]);
    expect(c.node(3).status().state).toBe(StateType.Follower);
  });

  test("leadership transfer hands over to an up-to-date follower", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, "a");
    c.node(1).transferLeader(2n);
    c.stabilize();
    expect(c.leaders()).toEqual([2n]);
    expect(c.propose(2, "b")).toBe(true);
    for (const id of [1, 2, 3]) expect(c.appliedData(id)).toEqual(["a", "b"]);
  });

  test("a removed node cannot disrupt the cluster", () => {
    // Without pre-vote an isolated node inflates its term; were it still a member, the leader's next
    // heartbeat would meet that term and step down. Removed, it is neither contacted nor heard.
    const c = new Cluster([1, 2, 3], { preVote: false });
    c.campaign(1);
    for (const id of [1, 2]) c.node(id).applyConfChange({ type: 1, nodeId: 3n });
    c.isolate(3);
    c.tick(50, [3]);
    expect(c.node(3).term).toBeGreaterThan(1);
    c.heal();
    c.tick(5);
    expect(c.leaders()).toContain(1n);
    expect(c.node(1).term).toBe(1);
  });
});

describe("snapshots", () => {
  test("a follower behind the leader's compacted log catches up through a snapshot", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    for (let i = 0; i < 20; i++) c.propose(1, `e${i}`);
    // The leader snapshots its applied state and drops the log before it.
    const leader = c.storages.get(1n)!;
    const applied = c.node(1).applied;
    leader.createSnapshot(applied, c.node(1).confState(), new TextEncoder().encode("state"));
    leader.compact(applied);
    c.heal();
    // The network reports the snapshot delivered, as the transport would.
    const deliver = c.deliver.bind(c);
    c.deliver = (m) => {
      deliver(m);
      if (m.type === MessageType.Snap) c.node(1).reportSnapshot(m.to, true);
    };
    c.tick(5);
    expect(c.storages.get(3n)!.snapshot.meta.index).toBe(applied);
    expect(c.node(3).committed).toBe(c.node(1).committed);
    c.propose(1, "after");
    expect(c.appliedData(3)).toEqual(["after"]); // earlier entries came inside the snapshot
  });

  test("a node restarts from its snapshot plus the log after it", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    for (let i = 0; i < 10; i++) c.propose(1, `e${i}`);
    const s2 = c.storages.get(2n)!;
    const at = c.node(2).applied - 3;
    s2.createSnapshot(at, c.node(2).confState(), new Uint8Array(0));
    s2.compact(at);
    const was = c.node(2);
    const before = { last: was.status().lastIndex, committed: was.committed, term: was.term };
    // A restart: a new node over the same storage (what the WAL replays), applied as the state machine says.
    const again = c.restart(2);
    expect(again).not.toBe(was);
    expect({ last: again.status().lastIndex, committed: again.committed, term: again.term }).toEqual(before);
    expect(again.status().firstIndex).toBe(at + 1);
    c.propose(1, "next");
    expect(again.committed).toBe(before.committed + 1);
    expect(c.appliedData(2).at(-1)).toBe("next");
  });
});

describe("lease-based reads", () => {
  test("a lease read is answered without a heartbeat round; a safe read waits for one", () => {
    for (const mode of ["lease", "safe"] as const) {
      const c = new Cluster([1, 2, 3], { readOnlyOption: mode });
      c.campaign(1);
      c.propose(1, "a");
      // Cut the followers off: only the lease (trusting clocks) can answer now.
      c.isolate(1);
      c.node(1).readIndex(new TextEncoder().encode("r"));
      c.stabilize();
      expect({ mode, reads: c.reads.get(1n) }).toEqual({ mode, reads: mode === "lease" ? [{ index: 2, ctx: "r" }] : [] });
    }
  });
});
