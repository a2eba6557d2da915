import { describe, expect, test } from "bun:test";
import { RawNode } from "./raw-node.ts";
import { MemoryStorage } from "./storage.ts";
import { StateType } from "./types.ts";

function lone(): RawNode {
  const storage = new MemoryStorage();
  (storage.snapshot.meta.confState as { voters: bigint[] }).voters = [1n];
  return new RawNode({ id: 1n, storage, electionTick: 10, heartbeatTick: 1, random: () => 0.5 });
}

describe("RawNode", () => {
  test("a second Ready before advance() is refused: it would hand out the same entries twice", () => {
    const n = lone();
    n.campaign();
    const rd = n.ready();
    expect(() => n.ready()).toThrow("ready() called again before advance()");
    n.advance(rd);
    expect(() => n.advance(rd)).toThrow("not the outstanding one");
  });

  test("status() reports the state without exposing Raft: role, term, log bounds, configuration, progress", () => {
    const n = lone();
    n.campaign();
    while (n.hasReady()) n.advance(n.ready());
    n.propose(new TextEncoder().encode("x"));
    while (n.hasReady()) n.advance(n.ready());
    const st = n.status();
    expect(st.state).toBe(StateType.Leader);
    expect(st.lead).toBe(1n);
    expect(st.term).toBe(1);
    expect(st.commit).toBe(2);
    expect(st.applied).toBe(2);
    expect(st.lastIndex).toBe(2);
    expect([...st.voters]).toEqual([1n]);
    expect(st.progress.get(1n)?.match).toBe(2);
    // A copy: changing it changes nothing inside.
    (st.voters as Set<bigint>).add(9n);
    expect(n.status().voters.has(9n)).toBe(false);
  });

  test("committed entries are handed out in bounded Readies when a cap is set", () => {
    const storage = new MemoryStorage();
    (storage.snapshot.meta.confState as { voters: bigint[] }).voters = [1n];
    const n = new RawNode({ id: 1n, storage, electionTick: 10, heartbeatTick: 1, random: () => 0.5, maxCommittedSizePerReady: 1 });
    n.campaign();
    n.advance(n.ready());
    n.proposeMany([1, 2, 3].map((i) => new TextEncoder().encode(`e${i}`)));
    const sizes: number[] = [];
    while (n.hasReady()) {
      const rd = n.ready();
      if (rd.committedEntries.length) sizes.push(rd.committedEntries.length);
      n.advance(rd);
    }
    // The leader's empty entry and three proposals: one per Ready.
    expect(sizes).toEqual([1, 1, 1, 1]);
  });
});
