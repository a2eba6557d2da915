// The bugs etcd's own robustness suite (and its users) found in etcd, each re-expressed here as a
// scenario that drives our server the way the bug needed — named after the behaviour that must hold,
// with etcd's issue for the history. The checkers are the same as for every history; what a scenario
// adds is the load, the fault and the cluster shape that made etcd fail.
import type { ScenarioOptions } from "./scenario.ts";
import { PROFILES } from "./traffic/profiles.ts";

export interface Regression {
  /** The behaviour that must hold. */
  name: string;
  /** etcd's issue (github.com/etcd-io/etcd/issues/N) where the bug was reported. */
  etcdIssue: number;
  options: Omit<ScenarioOptions, "seed" | "seconds" | "clients" | "etcdctl" | "keepDir" | "log" | "thinkMs"> & { thinkMs?: number };
}

export const REGRESSIONS: Regression[] = [
  {
    name: "crash-under-high-load-keeps-revisions",
    etcdIssue: 13766,
    options: { profile: PROFILES.etcd, nemesis: "failpoint", thinkMs: 0 },
  },
  {
    name: "single-member-keeps-acknowledged-writes-across-crash",
    etcdIssue: 14370,
    options: { profile: PROFILES.etcd, nemesis: "kill", members: 1 },
  },
  {
    name: "crash-during-defrag-keeps-revisions",
    etcdIssue: 14685,
    options: { profile: PROFILES.etcd, nemesis: "kill", mix: { defrag: 0.03 } },
  },
  {
    name: "progress-notification-synced-with-stream",
    etcdIssue: 15220,
    options: { profile: PROFILES.kubernetes, nemesis: "delay", progressEveryMs: 50, thinkMs: 0 },
  },
  {
    name: "watch-never-travels-back-after-partition",
    etcdIssue: 15271,
    options: { profile: PROFILES.kubernetes, nemesis: "partition" },
  },
  {
    name: "revision-never-decreases-after-crash-during-compaction",
    etcdIssue: 17780,
    options: { profile: PROFILES.etcd, nemesis: "failpoint", mix: { compact: 0.05, compactLatest: true } },
  },
  {
    name: "delete-event-kept-when-compacting-on-delete",
    etcdIssue: 18089,
    options: { profile: PROFILES.etcd, nemesis: "none", mix: { compact: 0.08, compactLatest: true } },
  },
  {
    name: "two-snapshots-in-a-short-period",
    etcdIssue: 18055,
    options: { profile: PROFILES.etcd, nemesis: "partition", serverArgs: ["--snapshot-count", "20", "--snapshot-catchup-entries", "5"] },
  },
  {
    name: "compacted-revision-read-in-txn",
    etcdIssue: 18667,
    options: { profile: PROFILES.etcd, nemesis: "none", mix: { compact: 0.05, compactLatest: true, txnRangeAtRevision: 0.15 } },
  },
  {
    name: "delete-event-on-watch-opened-at-compaction-revision",
    etcdIssue: 19179,
    options: { profile: PROFILES.etcd, nemesis: "none", mix: { compact: 0.03, compactLatest: true }, watchers: ["at-compaction"] },
  },
  {
    name: "watch-on-future-revision-sends-nothing-before-it",
    etcdIssue: 20221,
    options: { profile: PROFILES.etcd, nemesis: "kill", watchers: ["future"] },
  },
  {
    name: "no-stale-read-after-process-pause",
    etcdIssue: 20418,
    options: { profile: PROFILES.etcd, nemesis: "pause" },
  },
];
