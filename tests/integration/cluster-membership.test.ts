// Membership changes on in-process clusters over the fake clock (fake-cluster.ts): the server's side of
// tests/e2e/cluster.test.ts's "member add --learner, join, promote, remove" (which keeps etcdctl's
// output, the joiner's process and its exit, and the stray member's startup error) and of
// "--strict-reconfig-check" (which keeps the flag's default and etcdctl's error).
import { afterEach, describe, expect, test } from "bun:test";
import { Errors } from "../../src/pkg/errors.ts";
import { FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

const failure = (p: Promise<unknown>) => p.then(() => "ok", (e: Error) => e.message);

describe("member add, join, promote, remove", () => {
  test("a learner joins and catches up from the log, is promoted, then removed (and stops); a member re-added at its URL gets a new id", async () => {
    c = await FakeCluster.start({ members: 1 });
    await c.put(0, "before", "join");
    // URLs no member could dial are refused before they reach the log.
    const bad = "http://127.0.0.1:429991";
    expect(await c.run(failure(c.server(0).memberUpdate(c.id(0), [bad])))).toBe(Errors.memberBadURLs.message);
    expect(await c.run(failure(c.server(0).memberAdd([bad], false)))).toBe(Errors.memberBadURLs.message);
    expect(c.server(0).members).toHaveLength(1);

    const b = await c.join("b", { learner: true });
    // The learner caught up from the log, published its name, and serves serializable reads.
    expect(await c.get(b, "before", { serializable: true })).toBe("join");
    const listed = () => c!.server(0).members.find((m) => m.id === c!.id(b));
    expect(listed()).toMatchObject({ name: "b", isLearner: true, clientURLs: [expect.stringMatching(/^http:\/\//)] });
    expect(c.server(b).status().isLearner).toBe(true);
    expect(c.leader()).toBe(0); // a learner does not vote, let alone lead

    await c.run(c.server(0).memberPromote(c.id(b)));
    expect(listed()?.isLearner).toBe(false);
    await c.until("b knows it is a voter", () => !c!.server(b).status().isLearner);
    await c.put(0, "after", "promote");
    expect(await c.get(b, "after")).toBe("promote"); // linearizable through the new voter

    await c.run(c.server(0).memberRemove(c.id(b)));
    expect(c.server(0).members.map((m) => m.name)).toEqual(["m0"]);
    // The removed member stops itself, as etcd's does.
    await c.until("b stops", () => c!.state(b) === "removed");
    expect(c.logs(b)).toContain("permanently removed from the cluster");
    // One voter again: the survivor writes alone.
    await c.put(0, "alone", "again");

    // A member replaced at the same address (the usual repair): the new one gets a new id, since the
    // removed id is refused for good, and learns it from its peers when it joins.
    // (The id mixes in the time in seconds, as etcd's; a re-add within the same second as the first
    // add gets the removed id back, which is refused — etcd's ErrIDRemoved, reported as "member not
    // found" — so the operator's re-add comes later.)
    await c.advance(1_000);
    const b2 = await c.join("b2", { peerUrl: c.peerUrl(b), via: 0 });
    expect(c.id(b2)).not.toBe(c.id(b));
    expect(await c.get(b2, "after")).toBe("promote");
    expect(c.server(0).members.find((m) => m.id === c!.id(b2))).toMatchObject({ name: "b2", isLearner: false });
    expect(c.server(0).members).toHaveLength(2);
  });

  test("a learner is refused promotion while it lags the leader, and counts against --max-learners", async () => {
    c = await FakeCluster.start({ members: 1 });
    for (let i = 0; i < 20; i++) await c.put(0, `k${i}`, "v");
    const l = await c.join("l1", { learner: true });
    // A second learner is over the default limit of one.
    expect(await c.run(failure(c.server(0).memberAdd(["http://127.0.0.1:23999"], true)))).toBe(Errors.tooManyLearners.message);
    // Cut off from the leader, it falls behind, and may not be promoted until it has caught up.
    c.partition([0], [l]);
    for (let i = 0; i < 20; i++) await c.put(0, `more${i}`, "v");
    expect(await c.run(failure(c.server(0).memberPromote(c.id(l))))).toBe(Errors.learnerNotReady.message);
    c.heal();
    await c.until("the learner caught up", () => c!.server(l).status().raftAppliedIndex >= c!.server(0).status().raftIndex);
    await c.run(c.server(0).memberPromote(c.id(l)));
    expect(c.server(0).members.every((m) => !m.isLearner)).toBe(true);
  });
});

describe("strict reconfiguration check", () => {
  test("adding a voter is refused while too few voters have started; a lone member may add its second", async () => {
    c = await FakeCluster.start({ members: 1 });
    await c.run(c.server(0).memberAdd(["http://127.0.0.1:23811"], false));
    // With b not started, a third voter would leave 1 started voter of 3.
    expect(await c.run(failure(c.server(0).memberAdd(["http://127.0.0.1:23812"], false)))).toBe(Errors.memberNotEnoughStarted.message);
  });
});

describe("removed ids", () => {
  test("a member removed and added again at the same URLs within the same second is refused: its id was removed for good", async () => {
    c = await FakeCluster.start({ members: 1 });
    const url = "http://127.0.0.1:23998";
    // Learners (never started) keep the strict reconfiguration check out of the way.
    const added = await c.run(c.server(0).memberAdd([url], true));
    await c.run(c.server(0).memberRemove(added.member.id));
    const again = await c.run(failure(c.server(0).memberAdd([url], true)));
    // Within the same second the URLs give the removed id back; a second later they give a new one.
    expect(again).toBe(Errors.memberNotFound.message);
    expect(c.logs(0)).toContain("belongs to a member removed within the last second");
    await c.advance(1_000);
    const later = await c.run(c.server(0).memberAdd([url], true));
    expect(later.member.id).not.toBe(added.member.id);
  });
});
