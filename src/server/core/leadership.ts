import type { Clock } from "../../pkg/clock.ts";
import { Errors } from "../../pkg/errors.ts";
import { goDuration } from "../../pkg/go-duration.ts";
import { hex } from "./membership.ts";
import type { RaftNode } from "./raft-node.ts";
import type { Log } from "./server-options.ts";

interface Deps {
  self: bigint;
  raft: RaftNode;
  clock: Clock;
  stopped: () => boolean;
  log: Log;
}

/** Hands leadership to another voter and waits until it leads (etcd's MoveLeader), logging as etcd. */
export async function moveLeader(d: Deps, target: bigint, timeoutMs: number): Promise<void> {
  const st = d.raft.status();
  if (!d.raft.isLeader) throw Errors.notLeader;
  if (target === d.self) return;
  if (!st.voters.has(target)) throw Errors.badLeaderTransferee;
  const started = d.clock.now();
  const lead = st.lead;
  d.log("info", "leadership transfer starting", {
    "local-member-id": hex(d.self),
    "current-leader-member-id": hex(lead),
    "transferee-member-id": hex(target),
  });
  d.raft.transferLeader(target);
  const deadline = started + timeoutMs;
  while (d.raft.lead !== target) {
    if (d.clock.now() > deadline || d.stopped()) throw Errors.timeoutLeaderTransfer;
    await new Promise<void>((res) => d.clock.after(10, res));
  }
  d.log("info", "leadership transfer finished", {
    "local-member-id": hex(d.self),
    "old-leader-member-id": hex(lead),
    "new-leader-member-id": hex(target),
    took: goDuration(d.clock.now() - started),
  });
}

/**
 * Before stopping, a leader hands its leadership to the voter whose log is longest (etcd's
 * TransferLeadership on Stop), so the others need not wait an election timeout; logs as etcd.
 */
export async function transferLeadershipForStop(d: Deps, timeoutMs: number): Promise<void> {
  const st = d.raft.status();
  const fields = { "local-member-id": hex(d.self), "current-leader-member-id": hex(st.lead) };
  if (!d.raft.isLeader) return d.log("info", "skipped leadership transfer; local server is not leader", fields);
  if (st.voters.size <= 1) return d.log("info", "skipped leadership transfer for single voting member cluster", fields);
  const target = [...st.progress].filter(([id]) => id !== d.self && st.voters.has(id)).sort((a, b) => b[1].match - a[1].match)[0]?.[0];
  if (target === undefined) return;
  try {
    await moveLeader(d, target, timeoutMs);
  } catch (err) {
    d.log("warn", "leadership transfer failed", { "local-member-id": hex(d.self), error: err instanceof Error ? err.message : String(err) });
  }
}
