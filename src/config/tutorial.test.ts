import { afterAll, describe, expect, test } from "bun:test";
import { load, removeConfigs, writeConfig } from "./test-helpers";

afterAll(removeConfigs);

// The configurations from the seed tutorial, verbatim: they must keep loading.

const TUTORIAL_ETCD_CONF = `# [member]
ETCD_NAME="etcd-2"
ETCD_DATA_DIR="/data/etcd/"
#ETCD_WAL_DIR=""
#ETCD_SNAPSHOT_COUNT="10000"
ETCD_LISTEN_PEER_URLS="http://0.0.0.0:7001"
ETCD_LISTEN_CLIENT_URLS="http://0.0.0.0:4001"
#[cluster]
ETCD_INITIAL_ADVERTISE_PEER_URLS="http://172.32.148.128:7001"
ETCD_INITIAL_CLUSTER="etcd-1=http://172.32.148.127:7001,etcd-2=http://172.32.148.128:7001,etcd-3=http://172.32.148.129:7001,etcd-4=http://172.32.148.130:7001"
ETCD_INITIAL_CLUSTER_STATE="new"
ETCD_ADVERTISE_CLIENT_URLS="http://172.32.148.128:4001"
`;

const TUTORIAL_COMMAND_LINE =
  "-name niub1 -debug -initial-advertise-peer-urls http://node1-ip:2380 -listen-peer-urls http://node1-ip:2380 " +
  "-listen-client-urls http://node1-ip:2379,http://127.0.0.1:2379 -advertise-client-urls http://node1-ip:2379 " +
  "-initial-cluster-token etcd-cluster-1 -initial-cluster niub1=http://node1-ip:2380,niub2=http://node2-ip:2380,niub3=http://node3-ip:2380 " +
  "-initial-cluster-state new";

describe("seed tutorial", () => {
  test("etcd.conf for the 4-member cluster", () => {
    const path = writeConfig(TUTORIAL_ETCD_CONF);
    const c = load(["--config-file", path]);
    expect(c).toMatchObject({
      name: "etcd-2",
      dataDir: "/data/etcd/",
      walDir: "/data/etcd/member/wal",
      snapshotCount: 10000, // commented out in the file: etcd 3.6's default
      listenPeerUrls: ["http://0.0.0.0:7001"],
      listenClientUrls: ["http://0.0.0.0:4001"],
      initialAdvertisePeerUrls: ["http://172.32.148.128:7001"],
      initialClusterState: "new",
      advertiseClientUrls: ["http://172.32.148.128:4001"],
    });
    expect([...c.initialCluster]).toEqual([
      ["etcd-1", ["http://172.32.148.127:7001"]],
      ["etcd-2", ["http://172.32.148.128:7001"]],
      ["etcd-3", ["http://172.32.148.129:7001"]],
      ["etcd-4", ["http://172.32.148.130:7001"]],
    ]);
    expect(c.sources).toMatchObject({ name: "file", walDir: "default", snapshotCount: "default", initialCluster: "file" });
    // The same file works as systemd would use it: through ETCD_CONFIG_FILE.
    expect(load([], { ETCD_CONFIG_FILE: path }).name).toBe("etcd-2");
  });

  test("command line for member niub1", () => {
    const c = load(TUTORIAL_COMMAND_LINE.split(" "));
    expect(c).toMatchObject({
      name: "niub1",
      debug: true,
      logLevel: "debug",
      dataDir: "niub1.etcd",
      initialAdvertisePeerUrls: ["http://node1-ip:2380"],
      listenPeerUrls: ["http://node1-ip:2380"],
      listenClientUrls: ["http://node1-ip:2379", "http://127.0.0.1:2379"],
      advertiseClientUrls: ["http://node1-ip:2379"],
      initialClusterToken: "etcd-cluster-1",
      initialClusterState: "new",
    });
    expect([...c.initialCluster.keys()]).toEqual(["niub1", "niub2", "niub3"]);
    // Host names are kept as written; resolving them is the server's job.
    expect(c.parsedUrls.listenClientUrls.map((u) => u.hostname)).toEqual(["node1-ip", "127.0.0.1"]);
  });
});
