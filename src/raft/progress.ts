import type { NodeId } from "./types.ts";

export const ProgressState = { Probe: 0, Replicate: 1, Snapshot: 2 } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** A bounded window of in-flight append messages (by their last index), for flow control. */
export class Inflights {
  readonly size: number;
  #buf: number[] = [];

  constructor(size: number) {
    this.size = size;
  }
  get count(): number {
    return this.#buf.length;
  }
  full(): boolean {
    return this.#buf.length >= this.size;
  }
  add(index: number): void {
    if (this.full()) throw new Error("assertion failed: cannot add into a full inflights");
    this.#buf.push(index);
  }
  /** Frees every in-flight message up to and including index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.#buf.length && this.#buf[n] <= index) n++;
    if (n) this.#buf.splice(0, n);
  }
  freeFirstOne(): void {
    this.#buf.shift();
  }
  reset(): void {
    this.#buf = [];
  }
}

/** The leader's view of one follower's log. */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Probe state, one append at a time until the follower answers. */
  probeSent = false;
  pendingSnapshot = 0;
  recentActive = false;
  isLearner: boolean;
  inflights: Inflights;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  #reset(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.#reset(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#reset(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#reset(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#reset(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An append was acknowledged up to n: returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Optimistically advance next after sending entries up to last (pipelining in Replicate). */
  sentEntries(last: number, count: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = last + 1;
        this.inflights.add(last);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }

  /** A rejection of the append at `rejected`: go back to matchHint + 1. Returns false for stale rejections. */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false; // stale
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false; // stale: not the probe we sent
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }
}

/** The majority-acknowledged index among voters: the largest index a quorum has matched. */
export function quorumIndex(voters: Iterable<NodeId>, match: (id: NodeId) => number): number {
  const m: number[] = [];
  for (const id of voters) m.push(match(id));
  if (m.length === 0) return Number.MAX_SAFE_INTEGER;
  m.sort((a, b) => b - a);
  return m[Math.floor(m.length / 2)];
}

export type VoteResult = "won" | "lost" | "pending";

export function voteResult(voters: Iterable<NodeId>, votes: Map<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  let n = 0;
  for (const id of voters) {
    n++;
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = Math.floor(n / 2) + 1;
  if (granted >= q) return "won";
  if (n - rejected < q) return "lost";
  return "pending";
}
