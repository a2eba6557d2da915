import type { Clock } from "../../pkg/clock.ts";
import { goDuration } from "../../pkg/go-duration.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { hex } from "./membership.ts";
import type { Log } from "./server-options.ts";
import { ETCD_CLUSTER_VERSION } from "./version.ts";

/** Pause before publishing again after a failed proposal. */
const RETRY_MS = 500;

/**
 * Publishes this member's name and client URLs through Raft once there is a leader (etcd's publish),
 * retrying until it is applied or the server stops; resolves once applied.
 */
export function publishMember(o: {
  self: bigint;
  clusterId: bigint;
  name: string;
  clientUrls: readonly string[];
  propose: (body: etcdserverpb.InternalRaftRequest.$Properties) => Promise<unknown>;
  requestTimeoutMs: number;
  stopped: () => boolean;
  clock: Clock;
  log: Log;
}): Promise<void> {
  const attrs = { clusterMemberAttrSet: { member_ID: o.self, memberAttributes: { name: o.name, clientUrls: [...o.clientUrls] } } };
  // etcd's fields (3.5): the attributes as Go's %+v prints them, and the proposal's timeout.
  const fields = {
    "local-member-id": hex(o.self),
    "local-member-attributes": `{Name:${o.name} ClientURLs:[${o.clientUrls.join(" ")}]}`,
  };
  const timeout = goDuration(o.requestTimeoutMs);
  return new Promise<void>((resolve) => {
    const attempt = () =>
      o.propose(attrs).then(
        () => {
          // etcd's own words: deployment tooling and etcd's e2e suite wait for these two lines.
          o.log("info", "published local member to cluster through raft", {
            ...fields,
            "request-path": `/0/members/${hex(o.self)}/attributes`,
            "cluster-id": hex(o.clusterId),
            "publish-timeout": timeout,
          });
          o.log("info", "enabled capabilities for version", { "cluster-version": ETCD_CLUSTER_VERSION });
          resolve();
        },
        (err) => {
          if (o.stopped()) return o.log("warn", "stopped publish because server is stopping", { ...fields, "publish-timeout": timeout });
          o.log("warn", "failed to publish local member to cluster through raft", { ...fields, "publish-timeout": timeout, error: String((err as Error).message) });
          o.clock.after(RETRY_MS, attempt);
        },
      );
    attempt();
  });
}
