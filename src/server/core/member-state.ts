import type { Backend } from "../../backend/backend.ts";
import type { Lessor } from "../../lease/lessor.ts";
import type { MvccStore } from "../../mvcc/store.ts";
import { AlarmType, loadAlarms } from "./alarms.ts";
import type { AuthStore } from "./auth/store.ts";
import { type MemberInfo, membersFromJson } from "./membership.ts";

export interface Alarm {
  memberID: bigint;
  alarm: number;
}

/**
 * The state this member has applied from the log: the database and what lives beside it (leases,
 * auth, members, alarms) with the index it covers. One object, because installing a snapshot from
 * the leader replaces all of it at once; every part of the server reads it through here.
 */
export class MemberState {
  backend: Backend;
  store: MvccStore;
  readonly lessor: Lessor;
  readonly authStore: AuthStore;
  members: MemberInfo[];
  /** Ids removed from the cluster: never accepted again (etcd's removed-member store). */
  removed: Set<bigint>;
  /** Active alarms, replicated through Raft and stored with the data. */
  alarms: Alarm[];
  /** The consistent index: the last entry whose effects are in the database. */
  applied: bigint;
  /** Database size, refreshed once per applied batch: the quota check must not stat the file per write. */
  dbSize: number;
  /** The raft index of the entry being applied (Authenticate's simple tokens end with it). */
  applyingIndex = 0n;

  constructor(p: { backend: Backend; store: MvccStore; lessor: Lessor; authStore: AuthStore; members: MemberInfo[]; applied: bigint }) {
    this.backend = p.backend;
    this.store = p.store;
    this.lessor = p.lessor;
    this.authStore = p.authStore;
    this.members = p.members;
    this.applied = p.applied;
    this.alarms = loadAlarms(p.backend);
    this.removed = loadRemoved(p.backend);
    this.dbSize = p.backend.size();
  }

  /** Records a removed id with the data (inside the apply's transaction). */
  markRemoved(id: bigint): void {
    this.removed.add(id);
    this.backend.setMeta("members_removed", JSON.stringify([...this.removed].map((x) => x.toString(16))));
  }

  hasAlarm(type: number, memberID?: bigint): boolean {
    return this.alarms.some((a) => a.alarm === type && (memberID === undefined || a.memberID === memberID));
  }

  /** Names of the active alarms ("NOSPACE", "CORRUPT"), for /health and metrics. */
  alarmName(a: Alarm): string {
    return a.alarm === AlarmType.NOSPACE ? "NOSPACE" : a.alarm === AlarmType.CORRUPT ? "CORRUPT" : "NONE";
  }

  /** A lease exists (puts with a lease check it at apply). */
  readonly leases = { exists: (id: bigint) => this.lessor.lookup(id) !== undefined };

  /** The keys a lease holds (auth checks a revoke against every one of them). */
  leaseKeys = (id: bigint): Uint8Array[] => (this.lessor.lookup(id) ? this.lessor.timeToLive(id).keys : []);

  /** After a snapshot install: everything comes from the new database. */
  reload(backend: Backend, store: MvccStore): void {
    this.backend = backend;
    this.store = store;
    this.applied = (backend.getMeta("consistent_index") as bigint | undefined) ?? 0n;
    const saved = backend.getMeta("members") as string | undefined;
    if (saved) this.members = membersFromJson(saved);
    this.alarms = loadAlarms(backend);
    this.removed = loadRemoved(backend);
    this.dbSize = backend.size();
  }
}

function loadRemoved(b: Backend): Set<bigint> {
  const saved = b.getMeta("members_removed") as string | undefined;
  return new Set(saved ? (JSON.parse(saved) as string[]).map((x) => BigInt(`0x${x}`)) : []);
}
