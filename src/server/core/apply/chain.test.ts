import { describe, expect, test } from "bun:test";
import { AlarmType } from "../alarms.ts";
import type { MemberState } from "../member-state.ts";
import { AuthApplier } from "./auth.ts";
import { CorruptApplier } from "./corrupt.ts";
import { QuotaApplier } from "./quota.ts";
import type { Applier, Request } from "./results.ts";

/** What the links read of the member's state: its alarms, and whether auth is on. */
function stateWith(alarms: number[]): MemberState {
  return { hasAlarm: (t: number) => alarms.includes(t), authStore: { enabled: false } } as unknown as MemberState;
}

/** The chain in etcd's order over a backend that records what reached it. */
function chain(alarms: number[]) {
  const reached: Request[] = [];
  const backend: Applier = { apply: (req) => (reached.push(req), { header: { revision: 7n } }) };
  const state = stateWith(alarms);
  return { reached, head: new CorruptApplier(state, new QuotaApplier(state, new AuthApplier(state, backend))) };
}

const put: Request = { put: { key: new Uint8Array([1]), value: new Uint8Array([2]) } };
const del: Request = { deleteRange: { key: new Uint8Array([1]) } };
const alarm: Request = { alarm: { action: 2, memberID: 0n, alarm: AlarmType.NOSPACE } };

describe("the apply chain (corrupt → quota → auth → backend)", () => {
  test("without alarms every request reaches the backend", () => {
    const c = chain([]);
    for (const r of [put, del, alarm]) c.head.apply(r);
    expect(c.reached).toEqual([put, del, alarm]);
  });

  test("NOSPACE refuses what grows the database; deletes and alarm changes go on so room can be made", () => {
    const c = chain([AlarmType.NOSPACE]);
    expect(() => c.head.apply(put)).toThrow("etcdserver: mvcc: database space exceeded");
    c.head.apply(del);
    c.head.apply(alarm);
    expect(c.reached).toEqual([del, alarm]);
  });

  test("CORRUPT refuses every write, and is decided first: under both alarms a put is 'corrupt cluster'", () => {
    const c = chain([AlarmType.CORRUPT, AlarmType.NOSPACE]);
    expect(() => c.head.apply(put)).toThrow("etcdserver: corrupt cluster");
    expect(() => c.head.apply(del)).toThrow("etcdserver: corrupt cluster");
    c.head.apply(alarm); // disarming goes on
    expect(c.reached).toEqual([alarm]);
  });
});
