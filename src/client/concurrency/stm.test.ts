import { describe, expect, test } from "bun:test";
import type { etcdserverpb } from "../../proto/etcd.js";
import type { Client } from "../client.ts";
import { Txn, type TxnResult } from "../txn.ts";
import { stm } from "./stm.ts";

const header = (revision: bigint) => ({ clusterId: 1n, memberId: 1n, revision, raftTerm: 1n });
const kv = (key: string, value: string, modRevision: bigint) => ({ key: Buffer.from(key), value: Buffer.from(value), createRevision: 1n, modRevision, version: 1n, lease: 0n });

/** A client whose transactions are answered by `answer`, recording every request. */
function fakeClient(answer: (req: etcdserverpb.TxnRequest.$Properties, n: number) => TxnResult) {
  const requests: etcdserverpb.TxnRequest.$Properties[] = [];
  const client = { txn: () => new Txn(async (req) => answer(req, requests.push(req) - 1)) } as unknown as Client;
  return { client, requests };
}

describe("stm (serializable snapshot)", () => {
  test("reads once, then commits its writes guarded by the read's mod revision and the snapshot revision", async () => {
    const { client, requests } = fakeClient((req, n) =>
      n === 0
        ? { header: header(10n), succeeded: true, responses: [{ type: "get", header: header(10n), kvs: [kv("a", "5", 7n)], more: false, count: 1n }] }
        : { header: header(11n), succeeded: true, responses: [] },
    );
    await stm(client, async (s) => {
      const a = Number(await s.get("a"));
      expect(Number(await s.get("a"))).toBe(a); // repeatable: no second round trip
      s.put("a", String(a + 1));
      s.put("b", "x");
    });
    expect(requests.length).toBe(2);
    const cmp = requests[1].compare!;
    expect(cmp.map((c) => [Buffer.from(c.key!).toString(), c.result, c.modRevision])).toEqual([
      ["a", 0, 7n], // EQUAL: a unchanged since read
      ["a", 2, 11n], // LESS: not written after the snapshot (revision 10)
      ["b", 2, 11n],
    ]);
    expect(requests[1].success!.map((o) => Buffer.from(o.requestPut!.value!).toString())).toEqual(["6", "x"]);
  });

  test("on a conflict, runs apply again on the values the failed commit read back", async () => {
    const seen: string[] = [];
    const { client, requests } = fakeClient((_req, n) => {
      if (n === 0) return { header: header(10n), succeeded: true, responses: [{ type: "get", header: header(10n), kvs: [kv("a", "5", 7n)], more: false, count: 1n }] };
      if (n === 1) return { header: header(12n), succeeded: false, responses: [{ type: "get", header: header(12n), kvs: [kv("a", "9", 12n)], more: false, count: 1n }] };
      return { header: header(13n), succeeded: true, responses: [] };
    });
    await stm(client, async (s) => {
      const a = await s.get("a");
      seen.push(a);
      s.put("a", a + "!");
    });
    expect(seen).toEqual(["5", "9"]);
    // The second attempt read nothing new: it used the else branch's values.
    expect(requests.length).toBe(3);
    expect(requests[2].compare![0].modRevision).toBe(12n);
  });
});
