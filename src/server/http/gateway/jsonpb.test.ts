// Expected texts were taken from etcd 3.4's gateway with curl (tests/e2e/gateway.test.ts re-checks
// them against the real etcd).
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { etcdserverpb } from "../../../proto/etcd.js";
import { parseWhole } from "../../../pkg/go-json.ts";
import { errorBody, httpStatusFromCode, messageFromJson, messageToJson, streamError, streamResult } from "./jsonpb.ts";

const fromJson = (type: string, text: string) => messageFromJson(`etcdserverpb.${type}`, parseWhole(text));
const failure = (type: string, text: string) => {
  try {
    fromJson(type, text);
    return "no error";
  } catch (err) {
    return (err as Error).message;
  }
};

describe("requests: what jsonpb accepts", () => {
  test("proto names and lowerCamelCase names, bytes in base64, 64-bit integers as numbers or strings", () => {
    const a = fromJson("RangeRequest", '{"key":"YQ==","range_end":"Yg==","limit":5,"revision":"7","keys_only":true}');
    expect(a).toEqual({ key: new Uint8Array([0x61]), rangeEnd: new Uint8Array([0x62]), limit: 5n, revision: 7n, keysOnly: true });
  });

  test("int64 range: the largest fits, one more does not", () => {
    expect(fromJson("RangeRequest", '{"revision":"9223372036854775807"}').revision).toBe(9223372036854775807n);
    expect(failure("RangeRequest", '{"revision":"9223372036854775808"}')).toBe("json: cannot unmarshal number 9223372036854775808 into Go value of type int64");
    expect(fromJson("MemberRemoveRequest", '{"ID":18446744073709551615}').ID).toBe(18446744073709551615n);
  });

  test("the camelCase name wins when both are given; unknown fields are ignored; null is absent", () => {
    expect(fromJson("RangeRequest", '{"range_end":"YQ==","rangeEnd":"Yg==","bogus":1,"limit":null}')).toEqual({ rangeEnd: new Uint8Array([0x62]) });
    expect(fromJson("RangeRequest", "null")).toEqual({});
  });

  test("enums by name or number; repeated enums", () => {
    expect(fromJson("RangeRequest", '{"sort_order":"DESCEND","sortTarget":3}')).toEqual({ sortOrder: 2, sortTarget: 3 });
    expect(fromJson("WatchRequest", '{"create_request":{"filters":["NODELETE",0]}}')).toEqual({ createRequest: { filters: [1, 0] } });
  });

  test("oneof members (Txn's request_put, requestRange) and nested messages", () => {
    const t = fromJson("TxnRequest", '{"compare":[{"key":"YQ==","target":"VALUE","value":"Mg=="}],"success":[{"request_put":{"key":"Yg=="}},{"requestRange":{"key":"YQ=="}}]}');
    expect(t).toEqual({
      compare: [{ key: new Uint8Array([0x61]), target: 3, value: new Uint8Array([0x32]) }],
      success: [{ requestPut: { key: new Uint8Array([0x62]) } }, { requestRange: { key: new Uint8Array([0x61]) } }],
    });
  });

  test.each([
    ["RangeRequest", '{"key":5}', "json: cannot unmarshal number into Go value of type []uint8"],
    ["RangeRequest", '{"key":"YQ"}', "illegal base64 data at input byte 0"],
    ["RangeRequest", '{"keys_only":"true"}', "json: cannot unmarshal string into Go value of type bool"],
    ["RangeRequest", '{"serializable":1}', "json: cannot unmarshal number into Go value of type bool"],
    ["RangeRequest", '{"limit":""}', "unexpected end of JSON input"],
    ["RangeRequest", '{"revision":"abc"}', "invalid character 'a' looking for beginning of value"],
    ["RangeRequest", '{"revision":1.5}', "json: cannot unmarshal number 1.5 into Go value of type int64"],
    ["RangeRequest", '{"limit":1e3}', "json: cannot unmarshal number 1e3 into Go value of type int64"],
    ["RangeRequest", '{"limit":true}', "json: cannot unmarshal bool into Go value of type int64"],
    ["RangeRequest", '{"limit":{}}', "json: cannot unmarshal object into Go value of type int64"],
    ["RangeRequest", '{"sort_order":true}', "json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder"],
    ["RangeRequest", '{"sort_order":"BOGUS"}', 'unknown value "BOGUS" for enum etcdserverpb.RangeRequest_SortOrder'],
    ["RangeRequest", '{"sort_order":"\\u0041SCEND"}', 'unknown value "\\\\u0041SCEND" for enum etcdserverpb.RangeRequest_SortOrder'],
    ["RangeRequest", '{"sort_order":99999999999}', "json: cannot unmarshal number 99999999999 into Go value of type etcdserverpb.RangeRequest_SortOrder"],
    ["RangeRequest", "[1]", "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"],
    ["RangeRequest", '"str"', "json: cannot unmarshal string into Go value of type map[string]json.RawMessage"],
    ["TxnRequest", '{"compare":{}}', "json: cannot unmarshal object into Go value of type []json.RawMessage"],
    ["MemberRemoveRequest", '{"ID":-5}', "json: cannot unmarshal number -5 into Go value of type uint64"],
    ["MemberAddRequest", '{"peerURLs":[1]}', "json: cannot unmarshal number into Go value of type string"],
  ])("%s %s fails with Go's message", (type, text, message) => {
    expect(failure(type, text)).toBe(message);
  });

  test("bytes may also be an array of numbers (encoding/json's []byte)", () => {
    expect(fromJson("RangeRequest", '{"key":[97,98]}').key).toEqual(new Uint8Array([97, 98]));
    expect(failure("RangeRequest", '{"key":[256]}')).toBe("json: cannot unmarshal number 256 into Go value of type uint8");
  });

  test("what comes out encodes with the generated code", () => {
    const obj = fromJson("TxnRequest", '{"compare":[{"key":"YQ==","version":"3"}],"failure":[{"request_delete_range":{"key":"Yg==","prev_kv":true}}]}');
    const back = etcdserverpb.TxnRequest.decode(etcdserverpb.TxnRequest.encode(obj as any).finish());
    expect(back.compare[0].version).toBe(3n);
    expect(back.failure[0].requestDeleteRange?.prevKv).toBe(true);
  });
});

describe("responses: what jsonpb writes (OrigName, no defaults)", () => {
  const header = { clusterId: 14841639068965178418n, memberId: 10276657743932975437n, revision: 2n, raftTerm: 2n };
  const HEADER = '{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"}';

  test("proto names, 64-bit integers as strings, bytes in base64, zero values left out", () => {
    const res = etcdserverpb.RangeResponse.decode(
      etcdserverpb.RangeResponse.encode({ header, kvs: [{ key: Buffer.from("foo"), createRevision: 2n, modRevision: 2n, version: 1n, value: Buffer.from("bar"), lease: 0n }], count: 1n, more: false }).finish(),
    );
    expect(messageToJson("etcdserverpb.RangeResponse", res)).toBe(
      `{"header":${HEADER},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}`,
    );
  });

  test("enums by name, leaving out the zero one (PUT); 32-bit integers as numbers; a present empty message as {}", () => {
    expect(messageToJson("etcdserverpb.WatchResponse", { header: {}, watchId: -1n, events: [{ type: 1, kv: { key: new Uint8Array([0x77]), modRevision: 12n } }, { type: 0, kv: {} }] })).toBe(
      '{"header":{},"watch_id":"-1","events":[{"type":"DELETE","kv":{"key":"dw==","mod_revision":"12"}},{"kv":{}}]}',
    );
    expect(messageToJson("etcdserverpb.HashResponse", { header, hash: 2477695693 })).toBe(`{"header":${HEADER},"hash":2477695693}`);
    expect(messageToJson("etcdserverpb.DefragmentResponse", {})).toBe("{}");
  });

  test("a oneof's chosen member under its own name; names and URLs quoted as Go does", () => {
    expect(messageToJson("etcdserverpb.TxnResponse", { header, succeeded: true, responses: [{ responsePut: { header: { revision: 5n } } }] })).toBe(
      `{"header":${HEADER},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"5"}}}]}`,
    );
    expect(messageToJson("etcdserverpb.Member", { ID: 1n, name: "a<b>", peerURLs: ["http://x"], clientURLs: [], isLearner: true })).toBe(
      '{"ID":"1","name":"a\\u003cb\\u003e","peerURLs":["http://x"],"isLearner":true}',
    );
  });

  test("an enum number with no name goes out bare", () => {
    expect(messageToJson("etcdserverpb.AlarmMember", { memberID: 1n, alarm: 7 })).toBe('{"memberID":"1","alarm":7}');
  });
});

describe("gateway envelopes", () => {
  test("error bodies and HTTP statuses (runtime.DefaultHTTPError, HTTPStatusFromCode)", () => {
    expect(errorBody(11, "etcdserver: mvcc: required revision has been compacted")).toBe(
      '{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}',
    );
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map(httpStatusFromCode)).toEqual([
      200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401,
    ]);
  });

  test("stream chunks: {result} and {error}", () => {
    expect(streamResult("etcdserverpb.LeaseKeepAliveResponse", { ID: 9n })).toBe('{"result":{"ID":"9"}}');
    expect(streamError(5, "etcdserver: requested lease not found")).toBe(
      '{"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease not found","http_status":"Not Found"}}',
    );
  });
});

test("schema.gen.ts is generated from proto/ (node scripts/gen-proto-schema.mjs)", () => {
  const root = resolve(import.meta.dir, "../../../..");
  const r = spawnSync("node", ["scripts/gen-proto-schema.mjs", "--check"], { cwd: root, encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
});
