// etcd's lessor metrics (etcd 3.4 lease/metrics.go): names, help texts, types and buckets as etcd's.
// Grants and revokes are counted where they are applied (every member); renewals where they are
// answered (the primary lessor, i.e. the leader).
import { defaultRegistry, exponentialBuckets } from "../pkg/metrics.ts";

export const leaseGranted = defaultRegistry.counter({ name: "etcd_debugging_lease_granted_total", help: "The total number of granted leases." });
export const leaseRevoked = defaultRegistry.counter({ name: "etcd_debugging_lease_revoked_total", help: "The total number of revoked leases." });
export const leaseRenewed = defaultRegistry.counter({ name: "etcd_debugging_lease_renewed_total", help: "The number of renewed leases seen by the leader." });

/** The granted TTL (after raising it to the minimum), 1 s doubling to 2^23 s. */
export const leaseTtlSeconds = defaultRegistry.histogram({
  name: "etcd_debugging_lease_ttl_total",
  help: "Bucketed histogram of lease TTLs.",
  buckets: exponentialBuckets(1, 2, 24),
});
