import { describe, expect, test } from "bun:test";
import { goDuration } from "../../pkg/go-duration.ts";
import { describeReadOnly, describeRequest, readOnlyResponse, responseSize, slowApplies, warnIfSlow } from "./slow-apply.ts";

const b = (s: string) => new TextEncoder().encode(s);

describe("apply request took too long", () => {
  test("logged with etcd's fields only above the expected duration, and counted", () => {
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => lines.push({ level, msg, fields });
    const before = slowApplies.value;
    const req = { header: { ID: 7n }, put: { key: b("foo"), value: b("bar") } };
    expect(warnIfSlow(log, { tookMs: 100, expectedMs: 100, request: () => describeRequest(req) })).toBe(false);
    expect(warnIfSlow(log, { tookMs: 168.155239, expectedMs: 100, request: () => describeRequest(req), response: () => "size:5" })).toBe(true);
    expect(lines).toEqual([
      {
        level: "warn",
        msg: "apply request took too long",
        fields: { took: "168.155239ms", "expected-duration": "100ms", prefix: "", request: 'header:<ID:7 > put:<key:"foo" value_size:3 >', response: "size:5" },
      },
    ]);
    expect(slowApplies.value).toBe(before + 1);
  });

  test("Go's duration text", () => {
    expect(goDuration(0)).toBe("0s");
    expect(goDuration(0.000_5)).toBe("500ns");
    expect(goDuration(0.25)).toBe("250µs");
    expect(goDuration(100)).toBe("100ms");
    expect(goDuration(1500)).toBe("1.5s");
    expect(goDuration(60_500)).toBe("1m0.5s");
    expect(goDuration(3_600_000)).toBe("1h0m0s");
  });
});

describe("requests as etcd logs them (values as sizes, no secrets)", () => {
  test("put, delete, txn, leases, compaction", () => {
    const header = { ID: 12n, username: "root", authRevision: 3n };
    expect(describeRequest({ header, put: { key: b('a"b\n\x01'), value: b("12345"), lease: 5n, prevKv: true } })).toBe(
      'header:<ID:12 username:"root" auth_revision:3 > put:<key:"a\\"b\\n\\001" value_size:5 lease:5 prev_kv:true >',
    );
    expect(describeRequest({ header: { ID: 1n }, deleteRange: { key: b("a"), rangeEnd: b("b") } })).toBe('header:<ID:1 > delete_range:<key:"a" range_end:"b" >');
    expect(
      describeRequest({
        header: { ID: 2n },
        txn: {
          compare: [{ result: 0, target: 3, key: b("k"), value: b("secret") }, { result: 1, target: 2, key: b("m"), modRevision: 4n }],
          success: [{ requestPut: { key: b("k"), value: b("v2") } }],
          failure: [{ requestRange: { key: b("k") } }],
        },
      }),
    ).toBe(
      // etcd's txn stringer: every compare inside one compare:<…>, joined by a space after each one's own.
      'header:<ID:2 > txn:<compare:<target:VALUE key:"k" value_size:6  result:GREATER target:MOD key:"m" mod_revision:4 > success:<request_put:<key:"k" value_size:2 >> failure:<request_range:<key:"k" >>>',
    );
    expect(describeRequest({ header: { ID: 3n }, leaseGrant: { TTL: 60n, ID: 0x694dn } })).toBe("header:<ID:3 > lease_grant:<ttl:60-second id:000000000000694d>");
    expect(describeRequest({ header: { ID: 4n }, leaseRevoke: { ID: 0x694dn } })).toBe("header:<ID:4 > lease_revoke:<id:000000000000694d>");
    expect(describeRequest({ header: { ID: 5n }, compaction: { revision: 9n } })).toBe("header:<ID:5 > compaction:<revision:9 >");
    expect(describeRequest({ header: { ID: 6n }, leaseCheckpoint: { checkpoints: [{ ID: 1n, remaining_TTL: 30n }] } })).toBe("header:<ID:6 > lease_checkpoint:<checkpoints:<ID:1 remaining_TTL:30 > >");
  });

  test("passwords and tokens never appear", () => {
    const add = describeRequest({ header: { ID: 1n }, authUserAdd: { name: "u", password: "hunter2", hashedPassword: "$2a$10$x" } });
    expect(add).toBe("header:<ID:1 > auth_user_add:<>");
    const auth = describeRequest({ header: { ID: 1n }, authenticate: { name: "u", simpleToken: "abcdef.5" } });
    expect(auth).toBe("header:<ID:1 > authenticate:<name:u simple_token:[redacted]>");
  });

  test("read-only range and txn: the request itself and etcd's response text", () => {
    expect(describeReadOnly({ range: { key: b("a"), rangeEnd: b("z"), limit: 10n } })).toBe('key:"a" range_end:"z" limit:10 ');
    const kv = { key: b("a"), value: b("1"), createRevision: 2n, modRevision: 2n, version: 1n, lease: 0n };
    expect(readOnlyResponse({ range: {} }, { header: { revision: 5n }, kvs: [kv, kv], more: false, count: 2n })).toMatch(/^range_response_count:2 size:\d+$/);
    expect(readOnlyResponse({ txn: {} }, { header: { revision: 5n }, succeeded: true, responses: [{ responseRange: { kvs: [kv] } }] })).toMatch(
      /^responses:<range_response_count:1> size:\d+$/,
    );
    expect(responseSize("put", { header: { revision: 5n } })).toMatch(/^size:\d+$/);
  });
});
