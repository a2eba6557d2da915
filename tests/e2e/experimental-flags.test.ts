// The server-side flags kubeadm and common guides pass (issue 13), against the compiled binary with
// the real etcdctl 3.4 and @grpc/grpc-js: they are accepted and acted on as etcd acts on them.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { cleanup, ctl, etcdctl, freePort, haveEtcdctl, requireTool, startMember, trio, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());
const enc = (s: string) => new TextEncoder().encode(s);

/** The member id etcdctl's member list shows for a name. */
const memberId = (m: Member, name: string) => ctl(m, ["member", "list"]).split("\n").find((l) => l.includes(`, ${name},`))!.split(",")[0];

/** Damages the newest value of `key` in a stopped member's database (a bit flip on its disk, say). */
function tamper(dataDir: string, key: string): void {
  const db = new Database(join(dataDir, "member", "snap", "db"));
  db.run("UPDATE hist SET value = ?1 WHERE id = (SELECT max(id) FROM hist WHERE key = ?2)", [enc("rotten"), enc(key)]);
  db.close();
}

describe.if(run)("kubeadm's flags", () => {
  // What kubeadm writes into etcd's static pod for etcd 3.5, and for 3.6 (feature gates, renamed flags).
  const v35 = ["--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s", "--snapshot-count=10000"];
  const v36 = ["--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s", "--snapshot-count=10000"];
  // What operators' guides add for long-lived clusters.
  const guides = [
    "--experimental-initial-corrupt-check",
    "--experimental-corrupt-check-time=1m",
    "--experimental-compact-hash-check-enabled",
    "--experimental-enable-lease-checkpoint",
    "--experimental-enable-lease-checkpoint-persist",
    "--experimental-warning-apply-duration=200ms",
    "--experimental-snapshot-catchup-entries=1000",
  ];
  for (const [label, flags] of [
    ["etcd 3.5 style", v35],
    ["etcd 3.6 style", v36],
    ["guides' extras", guides],
  ] as const) {
    test(`${label}: the member starts (its initial corruption check passes) and serves etcdctl`, async () => {
      const m = await startMember({ args: [...flags] });
      try {
        expect(ctl(m, ["put", "k", "v"])).toBe("OK\n");
        expect(ctl(m, ["get", "k", "--print-value-only"])).toBe("v\n");
        expect(m.logs()).toContain("initial corruption checking passed; no corruption");
      } finally {
        await m.stop();
        cleanup(m);
      }
    }, 30_000);
  }

  test("--max-learners: a second learner is refused with etcd's error unless the limit allows it", async () => {
    const one = await startMember();
    const two = await startMember({ args: ["--max-learners", "2"] });
    try {
      for (const m of [one, two]) expect(ctl(m, ["member", "add", "l1", "--learner", `--peer-urls=http://127.0.0.1:${await freePort()}`])).toContain("added to cluster");
      const refused = etcdctl(one, ["member", "add", "l2", "--learner", `--peer-urls=http://127.0.0.1:${await freePort()}`]);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain("etcdserver: too many learner members in cluster");
      expect(ctl(two, ["member", "add", "l2", "--learner", `--peer-urls=http://127.0.0.1:${await freePort()}`])).toContain("added to cluster");
      expect(ctl(two, ["member", "list"]).trim().split("\n")).toHaveLength(3);
    } finally {
      for (const m of [one, two]) {
        await m.stop();
        cleanup(m);
      }
    }
  }, 30_000);
});

describe.if(run)("--experimental-watch-progress-notify-interval", () => {
  let m: Member;
  let client: grpc.Client;
  beforeAll(async () => {
    m = await startMember({ args: ["--experimental-watch-progress-notify-interval=1s"] });
    client = new grpc.Client(m.endpoint, grpc.credentials.createInsecure());
  }, 20_000);
  afterAll(async () => {
    client?.close();
    await m?.stop();
    if (m) cleanup(m);
  });

  test("a watch created with progress_notify gets empty responses carrying the current revision, every interval", async () => {
    ctl(m, ["put", "other", "1"]);
    const got: etcdserverpb.WatchResponse[] = [];
    const call = client.makeBidiStreamRequest<etcdserverpb.WatchRequest.$Properties, etcdserverpb.WatchResponse>(
      "/etcdserverpb.Watch/Watch",
      (x) => Buffer.from(etcdserverpb.WatchRequest.encode(x).finish()),
      (x) => etcdserverpb.WatchResponse.decode(x),
      new grpc.Metadata(),
      {},
    );
    call.on("data", (r: etcdserverpb.WatchResponse) => got.push(r));
    call.on("error", () => {});
    try {
      call.write({ createRequest: { key: enc("watched"), progressNotify: true } });
      const progress = () => got.filter((r) => !r.created && r.events.length === 0);
      const reported = (rev: bigint) => progress().some((r) => BigInt(r.header!.revision!) === rev);
      const first = BigInt(/"revision":(\d+)/.exec(ctl(m, ["get", "other", "-w", "json"]))![1]);
      for (let i = 0; i < 100 && !reported(first); i++) await Bun.sleep(50);
      expect(reported(first)).toBe(true);
      // A write elsewhere moves the revision the next notifications report.
      const rev = BigInt(/"revision":(\d+)/.exec(ctl(m, ["put", "other", "2", "-w", "json"]))![1]);
      for (let i = 0; i < 100 && !reported(rev); i++) await Bun.sleep(50);
      expect(reported(rev)).toBe(true);
      expect(got[0].created).toBe(true);
      for (const r of progress()) expect(BigInt(r.watchId)).toBe(BigInt(got[0].watchId));
    } finally {
      call.cancel();
    }
  }, 30_000);
});

describe.if(run)("--experimental-initial-corrupt-check", () => {
  test("a member whose database was damaged while it was down refuses to start, naming itself, the peer and the revision; an intact one starts", async () => {
    const { root, names, start } = await trio("ic", ["--experimental-initial-corrupt-check"]);
    const ms: (Member | null)[] = await Promise.all([0, 1, 2].map((i) => start(i)));
    try {
      for (let i = 0; i < 10; i++) ctl(ms[0]!, ["put", `k${i}`, `v${i}`]);
      const rev = /"revision":(\d+)/.exec(ctl(ms[0]!, ["get", "k0", "-w", "json"]))![1];
      const ids = names.map((n) => memberId(ms[0]!, n));
      for (let i = 0; i < 40 && ctl(ms[2]!, ["get", "k9", "--consistency=s", "--print-value-only"]) !== "v9\n"; i++) await Bun.sleep(50);

      // An intact member restarts and passes.
      await ms[1]!.stop();
      ms[1] = await start(1);
      expect(ms[1]!.logs()).toContain("initial corruption checking passed; no corruption");

      await ms[2]!.stop();
      ms[2] = null;
      tamper(join(root, names[2]), "k3");
      const err = await start(2).then(
        (m) => {
          ms[2] = m;
          return "started";
        },
        (e: Error) => e.message,
      );
      expect(err).toContain("exited with 1 at start");
      expect(err).toContain(`${ids[2]} found data inconsistency with peers: at revision ${rev}`);
      expect(err).toMatch(new RegExp(`"msg":"found different hash values from remote peer".*"local-member-id":"${ids[2]}".*"remote-peer-id":"(${ids[0]}|${ids[1]})"`));
      // The others go on serving.
      expect(ctl(ms[0]!, ["put", "after", "x"])).toBe("OK\n");
    } finally {
      for (const m of ms) await m?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 90_000);
});

describe.if(run)("--experimental-compact-hash-check-enabled", () => {
  test("after a compaction the leader finds the member whose kept data differs and raises CORRUPT for it", async () => {
    const { root, names, start } = await trio("ch", ["--experimental-compact-hash-check-enabled", "--experimental-compact-hash-check-time", "1s"]);
    const ms: (Member | null)[] = await Promise.all([0, 1, 2].map((i) => start(i)));
    try {
      for (let i = 0; i < 10; i++) ctl(ms[0]!, ["put", `k${i}`, `v${i}`]);
      const victim = memberId(ms[0]!, names[2]);
      for (let i = 0; i < 40 && ctl(ms[2]!, ["get", "k9", "--consistency=s", "--print-value-only"]) !== "v9\n"; i++) await Bun.sleep(50);
      await ms[2]!.stop();
      tamper(join(root, names[2]), "k3");
      ms[2] = await start(2, "live");
      ctl(ms[0]!, ["put", "k0", "again"]);
      const rev = /"revision":(\d+)/.exec(ctl(ms[0]!, ["get", "k0", "-w", "json"]))![1];
      ctl(ms[0]!, ["compaction", rev]);
      let alarms = "";
      for (let i = 0; i < 150 && !alarms.includes("CORRUPT"); i++) {
        await Bun.sleep(100);
        alarms = ctl(ms[0]!, ["alarm", "list"]);
      }
      // k3's damaged value is what c3 keeps at the compaction point: c1 and c2 agree, c3 is named.
      expect(alarms).toBe(`memberID:${BigInt(`0x${victim}`)} alarm:CORRUPT \n`);
      // The leader's log line reaches us through a pipe, possibly after etcdctl has seen the alarm.
      const logged = () => ms.some((m) => m!.logs().includes("Detected compaction hash mismatch"));
      for (let i = 0; i < 50 && !logged(); i++) await Bun.sleep(100);
      expect(logged()).toBe(true);
      expect(etcdctl(ms[0]!, ["put", "x", "y"]).stderr).toContain("etcdserver: corrupt cluster");
    } finally {
      for (const m of ms) await m?.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 90_000);
});
