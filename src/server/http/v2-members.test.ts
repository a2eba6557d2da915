import { expect, test } from "bun:test";
import { createHttpApp } from "./app.ts";
import type { GatewayHandler, HandlerTable } from "./gateway/handlers.ts";

const versions = () => ({ etcdserver: "3.5.0", etcdcluster: "3.5.0", "etcd-ts": "0.1.0" });

function appWith(leader: bigint) {
  const handlers: Record<string, GatewayHandler> = {
    "/etcdserverpb.Cluster/MemberList": {
      kind: "unary",
      handle: () => ({
        header: { clusterId: 0xcdf818194e3a8c32n },
        members: [
          { ID: 0x9n, name: "", peerURLs: ["http://10.0.0.9:2380"], clientURLs: [] },
          { ID: 0x8e9e05c52164694dn, name: "default", peerURLs: ["http://localhost:2380"], clientURLs: ["http://localhost:2379"] },
        ],
      }),
    },
    "/etcdserverpb.Maintenance/Status": { kind: "unary", handle: () => ({ leader }) },
  };
  return createHttpApp({ hasLeader: () => true, alarms: () => [], versions, handlers: handlers as HandlerTable });
}

test("GET /v2/members: etcd's v2 JSON, members by id, the cluster id header", async () => {
  const res = await appWith(0x8e9e05c52164694dn).request("/v2/members");
  expect(res.status).toBe(200);
  expect(res.headers.get("x-etcd-cluster-id")).toBe("cdf818194e3a8c32");
  expect(await res.text()).toBe(
    '{"members":[{"id":"9","name":"","peerURLs":["http://10.0.0.9:2380"],"clientURLs":[]},' +
      '{"id":"8e9e05c52164694d","name":"default","peerURLs":["http://localhost:2380"],"clientURLs":["http://localhost:2379"]}]}\n',
  );
});

test("GET /v2/members/leader: the leader, or 503 during an election", async () => {
  const res = await appWith(0x8e9e05c52164694dn).request("/v2/members/leader");
  expect(await res.text()).toBe('{"id":"8e9e05c52164694d","name":"default","peerURLs":["http://localhost:2380"],"clientURLs":["http://localhost:2379"]}\n');
  const none = await appWith(0n).request("/v2/members/leader");
  expect(none.status).toBe(503);
  expect(await none.text()).toBe('{"message":"During election"}');
});

test("other /v2/members paths are 404, changes through v2 are not served", async () => {
  const app = appWith(1n);
  const other = await app.request("/v2/members/x");
  expect(other.status).toBe(404);
  expect(await other.text()).toBe('{"message":"Not found"}');
  const post = await app.request("/v2/members", { method: "POST", body: "{}" });
  expect(post.status).toBe(405);
  expect(post.headers.get("allow")).toBe("GET");
});
