import { describe, expect, test } from "bun:test";
import { Proposals } from "./proposals.ts";
import { ReadBatcher } from "./read-batcher.ts";

/** A batcher over a real registry; `sent` collects the contexts it asked Raft for. */
function setup() {
  let now = 1_000;
  const registry = new Proposals(0x1234n, now);
  const sent: Uint8Array[] = [];
  const b = new ReadBatcher(registry, (ctx) => sent.push(ctx), () => now);
  return { b, sent, registry, advance: (ms: number) => (now += ms) };
}

describe("ReadBatcher over the wait registry", () => {
  test("reads arriving while a round is out share the next one; each round's answer reaches exactly its readers", async () => {
    const { b, sent, registry } = setup();
    const first = b.read(Infinity);
    const second = b.read(Infinity);
    const third = b.read(Infinity);
    expect(sent.length).toBe(1); // one round for the first read; the others wait for the next
    expect(sent[0].length).toBe(8); // the round's request id, 8 bytes as etcd's
    expect(registry.size).toBe(1);
    b.answered(sent[0], 10);
    expect(await first).toBe(10);
    expect(sent.length).toBe(2); // the waiting reads go out together
    b.answered(sent[1], 12);
    expect(await Promise.all([second, third])).toEqual([12, 12]);
    expect(registry.size).toBe(0);
  });

  test("a round unanswered for 500 ms is sent again under a new id; the late answer to the old one is ignored", async () => {
    const { b, sent, advance } = setup();
    const r = b.read(Infinity);
    advance(600);
    b.tick();
    expect(sent.length).toBe(2);
    expect(sent[1]).not.toEqual(sent[0]);
    b.answered(sent[0], 5); // late: nobody waits for that id any more
    b.answered(sent[1], 7);
    expect(await r).toBe(7);
  });

  test("a read past its deadline fails with etcd's timeout; stopping fails the rest and leaves the registry empty", async () => {
    const { b, registry, advance } = setup();
    const late = b.read(1_100);
    const other = b.read(Infinity);
    advance(200);
    b.tick();
    expect(await late.then(() => "ok", (e: Error) => e.message)).toBe("etcdserver: request timed out");
    b.failAll(new Error("stopped"));
    expect(await other.then(() => "ok", (e: Error) => e.message)).toBe("stopped");
    expect(registry.size).toBe(0);
  });
});
