// `lease`, `lock` and `elect` through the real etcdctl 3.4 and through ours, against one dist/etcd
// member: the same output in every -w format (lease ids and TTL remainders masked), the same exit codes
// and the same "Error:" lines for failures.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type CtlRun, errorLines, ourCtl, realCtl } from "./ctl-diff.ts";
import { cleanup, haveEtcdctl, type Member, requireTool, startMember } from "./harness.ts";


const run = requireTool("etcdctl", haveEtcdctl());

/** Lease ids (hex and decimal) and the seconds left on a lease vary from run to run. */
function mask(text: string): string {
  return text
    .replace(/\b[0-9a-f]{16}\b/g, "<ID>")
    .replace(/\b\d{17,20}\b/g, (n) => (n.length >= 19 ? "<N>" : n))
    .replace(/remaining\(\d+s\)/g, "remaining(<T>s)")
    .replace(/"ttl":\d+/g, '"ttl":<T>')
    .replace(/"TTL" : \d+\n"GrantedTTL"/g, '"TTL" : <T>\n"GrantedTTL"');
}

/** Each lock or campaign creates its key at a new revision: revisions and (base64) keys masked. */
function maskRevisions(text: string): string {
  return text
    .replace(/"(revision|create_revision|mod_revision)":\d+/g, '"$1":<R>')
    .replace(/"key":"[^"]*"/g, '"key":<K>')
    .replace(/"(Revision|CreateRevision|ModRevision)" : \d+/g, '"$1" : <R>');
}

/** What a user sees: exit code, stdout, and the lines of stderr that are not clientv3's log lines. */
function seen(r: CtlRun): { status: number | null; stdout: string; errors: string } {
  return { status: r.status, stdout: mask(r.stdout), errors: mask(errorLines(r.stderr)) };
}

describe.if(run)("etcdctl lease/lock/elect: ours against the real etcdctl", () => {
  let m: Member;
  const both = (args: string[], opts = {}) => ({ real: seen(realCtl(m, args, opts)), ours: seen(ourCtl(m, args, opts)) });
  const same = (args: string[], opts = {}) => {
    const r = both(args, opts);
    expect(r.ours).toEqual(r.real);
    return r.ours;
  };
  const grant = (ttl = 100) => {
    const out = ourCtl(m, ["lease", "grant", String(ttl)]).stdout;
    const id = /^lease ([0-9a-f]{16}) granted/.exec(out)?.[1];
    if (!id) throw new Error(`lease grant printed ${JSON.stringify(out)}`);
    return id;
  };

  beforeAll(async () => {
    m = await startMember();
  }, 20_000);
  afterAll(async () => {
    await m?.stop();
    if (m) cleanup(m);
  }, 20_000);

  test("lease grant in every format", () => {
    for (const w of ["simple", "json", "fields", "protobuf", "table"]) {
      const r = same(["-w", w, "lease", "grant", "100"]);
      if (w === "simple") expect(r.stdout).toBe("lease <ID> granted with TTL(100s)\n");
    }
  });

  test("lease timetolive (with and without --keys) and keep-alive --once in every format", () => {
    const id = grant();
    ourCtl(m, ["put", "--lease", id, "lk1", "v"]);
    ourCtl(m, ["put", "--lease", id, "lk2", "v"]);
    for (const w of ["simple", "json", "fields", "protobuf", "table"]) {
      same(["-w", w, "lease", "timetolive", id]);
      same(["-w", w, "lease", "timetolive", "--keys", id]);
      same(["-w", w, "lease", "keep-alive", "--once", id]);
    }
    expect(same(["lease", "timetolive", "--keys", id]).stdout).toBe("lease <ID> granted with TTL(100s), remaining(<T>s), attached keys([lk1 lk2])\n");
  });

  test("a lease that does not exist: timetolive says expired, keep-alive ends, keep-alive --once fails", () => {
    for (const w of ["simple", "json", "fields"]) same(["-w", w, "lease", "timetolive", "1234"]);
    expect(same(["lease", "timetolive", "1234"]).stdout).toBe("lease <ID> already expired\n");
    expect(same(["lease", "keep-alive", "1234"]).stdout).toBe("lease <ID> expired or revoked.\n");
    const once = same(["lease", "keep-alive", "--once", "1234"]);
    expect(once.status).toBe(2);
    expect(once.errors).toBe("Error: etcdserver: requested lease not found");
  });

  test("lease list: the same leases, in any order", () => {
    grant();
    const r = both(["lease", "list"]);
    expect(r.ours.status).toBe(0);
    const lines = (s: string) => s.split("\n").sort();
    expect(lines(realCtl(m, ["lease", "list"]).stdout)).toEqual(lines(ourCtl(m, ["lease", "list"]).stdout));
    for (const w of ["fields", "json", "protobuf"]) {
      const real = realCtl(m, ["-w", w, "lease", "list"]);
      const ours = ourCtl(m, ["-w", w, "lease", "list"]);
      expect(ours.status).toBe(real.status);
      expect(ours.stdout.length).toBe(real.stdout.length);
    }
  });

  test("lease revoke in every format, and its failures", () => {
    for (const w of ["simple", "json", "fields", "protobuf", "table"]) {
      const id = grant();
      // Each run revokes its own lease: the real etcdctl's, then ours, on leases granted alike.
      const real = seen(realCtl(m, ["-w", w, "lease", "revoke", id]));
      const ours = seen(ourCtl(m, ["-w", w, "lease", "revoke", grant()]));
      expect(ours).toEqual(real);
    }
    const unknown = same(["lease", "revoke", "1234"]);
    expect(unknown).toEqual({ status: 1, stdout: "", errors: "Error: failed to revoke lease (etcdserver: requested lease not found)" });
    expect(same(["lease", "revoke", "zz"]).errors).toBe('Error: bad lease ID arg (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex');
    same(["lease", "revoke", "8000000000000000"]);
    same(["lease", "timetolive", "xyz"]);
    same(["lease", "keep-alive", "g"]);
  });

  test("missing or bad arguments", () => {
    for (const args of [
      ["lease", "grant"],
      ["lease", "grant", "abc"],
      ["lease", "grant", "1", "2"],
      ["lease", "revoke"],
      ["lease", "timetolive"],
      ["lease", "keep-alive"],
      ["lock"],
      ["elect"],
      ["elect", "e1"],
      ["elect", "-l", "e1", "p"],
      ["elect", "a", "b", "c"],
    ]) {
      const r = same(args);
      expect(r.status).toBe(128);
    }
  });

  test("lock prints the lock key and holds it until interrupted; elect prints the proposal", () => {
    for (const w of ["simple", "json", "fields"]) {
      const r = both(["-w", w, "lock", `dl-${w}`], { timeoutMs: 1500 });
      expect(r.ours.status).toBe(0);
      expect({ ...r.ours, stdout: maskRevisions(r.ours.stdout) }).toEqual({ ...r.real, stdout: maskRevisions(r.real.stdout) });
    }
    expect(same(["lock", "dl"], { timeoutMs: 1500 }).stdout).toBe("dl/<ID>\n\n");
    expect(same(["elect", "de", "proposal-1"], { timeoutMs: 1500 }).stdout).toBe("de/<ID>\nproposal-1\n");
    // Both released on the signal: nothing is left under the prefixes.
    expect(ourCtl(m, ["get", "--prefix", "dl/"]).stdout).toBe("");
    expect(ourCtl(m, ["get", "--prefix", "de/"]).stdout).toBe("");
  }, 30_000);

  test("lock runs a command while holding the lock, with ETCD_LOCK_KEY and ETCD_LOCK_REV", () => {
    const script = 'echo "key=$ETCD_LOCK_KEY"; test "$ETCD_LOCK_REV" -gt 0 && echo rev-ok';
    const r = same(["lock", "dx", "--", "sh", "-c", script]);
    expect(r.stdout).toBe("key=dx/<ID>\nrev-ok\n");
    expect(same(["lock", "dx", "--", "/nonexistent/cmd"]).errors).toBe("Error: fork/exec /nonexistent/cmd: no such file or directory");
    // A failing command: etcdctl 3.5 exits with the command's code (3.4, installed here, exits 1).
    const real = seen(realCtl(m, ["lock", "dx", "--", "sh", "-c", "exit 3"]));
    const ours = seen(ourCtl(m, ["lock", "dx", "--", "sh", "-c", "exit 3"]));
    expect(ours.errors).toBe(real.errors);
    expect(ours.errors).toBe("Error: exit status 3");
    expect(real.status).toBe(1);
    expect(ours.status).toBe(3);
  }, 30_000);
});
