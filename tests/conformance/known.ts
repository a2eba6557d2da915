// Expected differences: tests of etcd 3.4's e2e suite that pass on etcd 3.4 and are known to fail on
// etcd-ts, each with the reason. Only things etcd-ts does not do on purpose belong here — a failure
// that is a bug stays off this list so that it fails the run. `npm run conformance` says when a listed
// test passes again ("remove it from the list").
import type { KnownDifference } from "./verdict.ts";

// etcd-ts serves the v3 API only (plus /v2/members): it refuses --enable-v2, as etcd 3.6 does, so
// every test that starts its cluster with --enable-v2 stops there.
const V2 = "starts etcd with --enable-v2, which etcd-ts refuses (no v2 API; as in etcd 3.6)";
const v2 = (tests: string[], what: string): KnownDifference[] => tests.map((test) => ({ test, reason: `${V2}; then ${what}` }));

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  ...v2(["TestCtlV2Set", "TestCtlV2SetQuorum", "TestCtlV2SetClientTLS", "TestCtlV2SetPeerTLS", "TestCtlV2SetTLS"],
    "ETCDCTL_API=2 etcdctl set/get on the v2 key space"),
  ...v2(["TestCtlV2Mk", "TestCtlV2MkQuorum", "TestCtlV2MkTLS"], "ETCDCTL_API=2 etcdctl mk/get on the v2 key space"),
  ...v2(["TestCtlV2Rm", "TestCtlV2RmTLS"], "ETCDCTL_API=2 etcdctl set/rm on the v2 key space"),
  ...v2(["TestCtlV2Ls", "TestCtlV2LsQuorum", "TestCtlV2LsTLS"], "ETCDCTL_API=2 etcdctl set/ls on the v2 key space"),
  ...v2(["TestCtlV2Watch", "TestCtlV2WatchTLS"], "ETCDCTL_API=2 etcdctl watch on the v2 key space"),
  ...v2(["TestCtlV2GetRoleUser", "TestCtlV2UserListUsername", "TestCtlV2UserListRoot", "TestCtlV2RoleList"],
    "v2 auth: ETCDCTL_API=2 etcdctl role/user add, grant, get, list (/v2/auth)"),
  ...v2(["TestCtlV2AuthWithCommonName"], "v2 auth with a client certificate's CN, and a v2 set"),
  ...v2(["TestCtlV2Backup", "TestCtlV2BackupSnapshot", "TestCtlV2BackupV3", "TestCtlV2BackupV3Snapshot"],
    "ETCDCTL_API=2 etcdctl backup of a data dir holding a v2 store, restarted with --force-new-cluster, read with v2 get"),
  ...v2(["TestCtlV2ClusterHealth"],
    "ETCDCTL_API=2 etcdctl cluster-health (it reads only /v2/members and each member's /health, which etcd-ts serves)"),
  ...v2(["TestV2CurlNoTLS", "TestV2CurlAutoTLS", "TestV2CurlAllTLS", "TestV2CurlPeerTLS", "TestV2CurlClientTLS", "TestV2CurlClientBoth"],
    "curl PUT/GET of /v2/keys/foo"),
  ...v2(["TestV2CurlIssue5182"], "curl of /v2/keys and /v2/auth/{users,roles}, then v2 etcdctl auth"),
  {
    test: "TestEtcdCorruptHash",
    reason: "the test corrupts a stopped member's member/snap/db by opening it with Go's bbolt; etcd-ts's backend is " +
      "SQLite (docs/ARCHITECTURE.md), so bbolt.Open fails with 'invalid database' before etcd-ts is involved",
  },
];
