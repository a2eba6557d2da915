import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { Lessor } from "../../lease/lessor.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { LeaseService } from "./lease-service.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A primary lessor on a fake clock and a service whose proposals are only recorded. */
function setup(checkpointIntervalMs: number) {
  const dir = mkdtempSync(join(tmpdir(), "lease-service-"));
  const backend = new Backend(join(dir, "db"));
  const clock = { t: 0 };
  const lessor = new Lessor(backend, { now: () => clock.t, minTtlSeconds: 2, checkpointIntervalMs });
  const proposed: etcdserverpb.InternalRaftRequest.$Properties[] = [];
  const service = new LeaseService({
    lessor: () => lessor,
    propose: async (body) => void proposed.push(body),
    leader: () => 1n,
    self: 1n,
    forward: async () => ({ error: "not used" }),
    nextId: () => 99n,
    log: () => {},
  });
  cleanups.push(() => {
    service.stop();
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { clock, lessor, service, proposed };
}

describe("lease checkpoints (--experimental-enable-lease-checkpoint)", () => {
  test("the primary proposes one LeaseCheckpoint with the remaining TTLs once they are due", () => {
    const { clock, lessor, service, proposed } = setup(60_000);
    lessor.promote(0);
    lessor.grant(1n, 600);
    lessor.grant(2n, 300);
    lessor.grant(3n, 30); // lives less than an interval: never checkpointed
    clock.t = 59_999;
    expect(service.checkpointDue()).toBe(0);
    clock.t = 60_000;
    expect(service.checkpointDue()).toBe(2);
    expect(proposed).toEqual([
      {
        leaseCheckpoint: {
          checkpoints: [
            { ID: 1n, remaining_TTL: 540n },
            { ID: 2n, remaining_TTL: 240n },
          ],
        },
      },
    ]);
    expect(service.checkpointDue()).toBe(0); // next due an interval later
  });

  test("nothing when checkpointing is off or this member is not the primary", () => {
    const off = setup(0);
    off.lessor.promote(0);
    off.lessor.grant(1n, 600);
    off.clock.t = 3_600_000;
    expect(off.service.checkpointDue()).toBe(0);

    const follower = setup(1000);
    follower.lessor.grant(1n, 600);
    follower.clock.t = 3_600_000;
    expect(follower.service.checkpointDue()).toBe(0);
    expect([...off.proposed, ...follower.proposed]).toEqual([]);
  });

  test("many due leases go out in entries of at most 1000 checkpoints (etcd's batch size)", () => {
    const { clock, lessor, service, proposed } = setup(1000);
    lessor.promote(0);
    for (let id = 1n; id <= 2500n; id++) lessor.grant(id, 100);
    clock.t = 1000;
    expect(service.checkpointDue()).toBe(2500);
    expect(proposed.map((p) => p.leaseCheckpoint?.checkpoints?.length)).toEqual([1000, 1000, 500]);
  });
});
