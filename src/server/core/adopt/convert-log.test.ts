import { describe, expect, test } from "bun:test";
import bcrypt from "bcryptjs";
import { encodeWithHeadroom } from "../../../proto/encode.ts";
import { etcdserverpb, raftpb } from "../../../proto/etcd.js";
import { decodeConfChange } from "../../../raft/codec.ts";
import type { EtcdEntry } from "../../../wal/etcd/log.ts";
import { parseConfContext } from "../membership.ts";
import { convertEntry, membershipAt, UnconvertibleError } from "./convert-log.ts";
import { readNormalEntry } from "./etcd-requests.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const A = 0x8e9e05c52164694dn; // above 2^53: ids must not pass through a JS number
const B = 0xfd422379fda50e48n;
const C = 0x2n;
const opts = { hashPassword: (pw: string) => bcrypt.hash(pw, 4), where: (e: EtcdEntry) => `entry ${e.index}` };
const entry = (index: number, data: Uint8Array, type = 0): EtcdEntry => ({ index: BigInt(index), term: 3n, type, data });
const confChange = (index: number, type: number, id: bigint, ctx?: string) =>
  entry(index, encodeWithHeadroom(raftpb.ConfChange, { id: 7n, type, nodeId: id, ...(ctx ? { context: utf8(ctx) } : {}) }), 1);
const memberJson = (id: bigint, peer: string, extra = "") => `{"id":${id},"peerURLs":["${peer}"]${extra}}`;
const v2 = (index: number, method: string, path: string, val = "") => entry(index, encodeWithHeadroom(etcdserverpb.Request, { ID: 42n, Method: method, Path: path, Val: val }));
const irr = (index: number, p: etcdserverpb.InternalRaftRequest.$Properties) => entry(index, encodeWithHeadroom(etcdserverpb.InternalRaftRequest, p));

describe("converting etcd's log entries", () => {
  test("a conf change keeps index, term and type; etcd's Member JSON becomes our context", async () => {
    const e = confChange(5, 3, A, memberJson(A, "http://10.0.0.1:2380", `,"isLearner":true,"isPromote":false`));
    const ours = await convertEntry(e, opts);
    expect([ours.index, ours.term, ours.type]).toEqual([5, 3, 1]);
    const cc = decodeConfChange(ours.data);
    expect([cc.type, cc.nodeId]).toEqual([3, A]);
    expect(parseConfContext(cc.context).member).toEqual({ id: A, name: "", peerURLs: ["http://10.0.0.1:2380"], clientURLs: [], isLearner: true });
    const removal = decodeConfChange((await convertEntry(confChange(6, 1, A), opts)).data);
    expect([removal.type, removal.nodeId, parseConfContext(removal.context).member]).toEqual([1, A, undefined]);
  });

  test("etcd 3.4's v2 publish becomes clusterMemberAttrSet; other v2 requests become empty entries", async () => {
    const pub = await convertEntry(v2(9, "PUT", `/0/members/${A.toString(16)}/attributes`, `{"name":"n1","clientURLs":["http://10.0.0.1:2379"]}`), opts);
    const req = etcdserverpb.InternalRaftRequest.decode(pub.data);
    expect(req.header?.ID).toBe(42n);
    expect([req.clusterMemberAttrSet?.member_ID, req.clusterMemberAttrSet?.memberAttributes?.name, req.clusterMemberAttrSet?.memberAttributes?.clientUrls]).toEqual([
      A,
      "n1",
      ["http://10.0.0.1:2379"],
    ]);
    for (const e of [v2(10, "PUT", "/0/version", "3.4.0"), v2(11, "SYNC", ""), v2(12, "QGET", "/1/foo"), irr(13, { clusterVersionSet: { ver: "3.5.0" } })]) {
      expect((await convertEntry(e, opts)).data.length).toBe(0);
    }
  });

  test("a v2 key write and a joint-consensus conf change are refused", async () => {
    await expect(convertEntry(v2(14, "PUT", "/1/foo", "bar"), opts)).rejects.toThrow(UnconvertibleError);
    await expect(convertEntry(v2(14, "DELETE", "/1"), opts)).rejects.toThrow(/entry 14 writes a key with etcd's v2 API/);
    await expect(convertEntry(entry(15, new Uint8Array([8, 1]), 2), opts)).rejects.toThrow(/joint-consensus/);
  });

  test("etcd 3.4's plain-text passwords become bcrypt hashes; other requests are kept byte for byte", async () => {
    const add = etcdserverpb.InternalRaftRequest.decode((await convertEntry(irr(16, { header: { ID: 1n }, authUserAdd: { name: "u", password: "secret" } }), opts)).data);
    expect(add.authUserAdd?.password).toBe("");
    expect(await bcrypt.compare("secret", add.authUserAdd!.hashedPassword ?? "")).toBe(true);
    const change = etcdserverpb.InternalRaftRequest.decode((await convertEntry(irr(17, { authUserChangePassword: { name: "u", password: "new" } }), opts)).data);
    expect([change.authUserChangePassword?.password, await bcrypt.compare("new", change.authUserChangePassword!.hashedPassword ?? "")]).toEqual(["", true]);
    const put = irr(18, { header: { ID: 2n, username: "u", authRevision: 3n }, put: { key: utf8("k"), value: utf8("v"), lease: 5n } });
    expect((await convertEntry(put, opts)).data).toEqual(put.data);
  });

  test("bare v2 requests and InternalRaftRequests are told apart as etcd's apply does", () => {
    expect(readNormalEntry(v2(1, "PUT", "/0/version", "3.4.0").data).kind).toBe("v2");
    expect(readNormalEntry(v2(1, "SYNC", "").data).kind).toBe("v2");
    const wrapped = encodeWithHeadroom(etcdserverpb.InternalRaftRequest, { ID: 3n, v2: { ID: 3n, Method: "PUT", Path: "/0/version", Val: "3.5.0" } });
    const w = readNormalEntry(wrapped);
    expect(w.kind === "v2" && w.req.Path).toBe("/0/version");
    expect(readNormalEntry(irr(1, { put: { key: utf8("PUT") } }).data).kind).toBe("v3");
    expect(readNormalEntry(new Uint8Array(0)).kind).toBe("empty");
  });
});

describe("membership as of an index", () => {
  const base = { members: [{ id: A, name: "a", peerURLs: ["http://a:2380"], clientURLs: ["http://a:2379"], isLearner: false }], removed: [] };
  const where = (e: EtcdEntry) => `entry ${e.index}`;
  const log = [
    confChange(10, 3, B, memberJson(B, "http://b:2380", `,"isLearner":true`)), // add learner b
    v2(11, "PUT", `/0/members/${B.toString(16)}/attributes`, `{"name":"b","clientURLs":["http://b:2379"]}`),
    confChange(12, 0, B, memberJson(B, "http://b:2380", `,"isPromote":true`)), // promote b
    confChange(13, 0, C, memberJson(C, "http://a:2380")), // refused by etcd: a's peer URL
    irr(14, { clusterMemberAttrSet: { member_ID: A, memberAttributes: { name: "a2", clientUrls: ["http://a:3379"] } } }),
    confChange(15, 2, B, memberJson(B, "http://b:2390")), // update b's peer URLs
    confChange(16, 1, A), // remove a
    confChange(17, 0, A, memberJson(A, "http://a:2380")), // refused by etcd: a was removed
  ];
  const view = (upTo: number) => {
    const r = membershipAt(base, log, BigInt(upTo), where);
    return { members: r.members.map((m) => `${m.id.toString(16)} ${m.name} ${m.peerURLs} ${m.clientURLs} ${m.isLearner ? "learner" : "voter"}`), removed: r.removed };
  };

  test("applies conf changes and publishes up to the index, with etcd's validation", () => {
    expect(view(9).members).toEqual([`${A.toString(16)} a http://a:2380 http://a:2379 voter`]);
    expect(view(11).members).toEqual([`${A.toString(16)} a http://a:2380 http://a:2379 voter`, `${B.toString(16)} b http://b:2380 http://b:2379 learner`]);
    expect(view(15).members).toEqual([`${A.toString(16)} a2 http://a:2380 http://a:3379 voter`, `${B.toString(16)} b http://b:2390 http://b:2379 voter`]);
    expect(view(17)).toEqual({ members: [`${B.toString(16)} b http://b:2390 http://b:2379 voter`], removed: [A] });
  });
});
