/**
 * The shortest TTL a lease may have, in seconds: etcd's ceil(⌊3 × electionTicks / 2⌋ × heartbeat).
 * A lease must outlive a leader election (after one, the new leader restarts every countdown), so a
 * shorter TTL asked by a client is raised to this. With the defaults (heartbeat 100 ms, election
 * timeout 1000 ms = 10 ticks) it is ceil(1.5 s) = 2 s.
 *
 * `electionTicks` is the election timeout in heartbeats, as the server gives it to Raft.
 */
export function minLeaseTtlSeconds(electionTicks: number, heartbeatMs: number): number {
  if (!(electionTicks > 0 && heartbeatMs > 0)) {
    throw new Error(`assertion failed: electionTicks ${electionTicks} and heartbeatMs ${heartbeatMs} must be positive`);
  }
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * heartbeatMs) / 1000);
}
