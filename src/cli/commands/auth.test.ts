// The auth, user and role commands: the pure parts (ranges, prompts, printers) over fake streams.
import { describe, expect, test } from "bun:test";
import { etcdserverpb } from "../../proto/etcd.js";
import { Ctx, type Io } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { defaultOf } from "../flags.ts";
import { GLOBAL_FLAGS, globalsFrom } from "../global.ts";
import { printAuthStatus } from "./auth.ts";
import { parsePermType, permRange, printRoleGet } from "./role.ts";
import { firstWord, readPasswordTwice } from "./user.ts";

/** A Ctx over fake streams with the given -w format; out() is what stdout got, as bytes. */
function fakeCtx(writeOut = "simple", stdin: string[] = [], extra: Record<string, unknown> = {}) {
  const values: Record<string, any> = {};
  for (const s of GLOBAL_FLAGS) values[s.name] = defaultOf(s);
  Object.assign(values, { "write-out": writeOut }, extra);
  const chunks: Buffer[] = [];
  const io: Io = {
    out: (t) => void chunks.push(Buffer.from(t)),
    err: () => {},
    readStdin: async () => Buffer.from(stdin.join("\n")),
    readLine: async () => stdin.shift() ?? null,
    stdoutIsTTY: false,
    stdinIsTTY: false,
    env: {},
  };
  return { ctx: new Ctx(globalsFrom(values), io), out: () => Buffer.concat(chunks) };
}

const failure = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return [(e as CliError).code, (e as CliError).message];
  }
  return null;
};

describe("permission ranges (etcdctl's permRange)", () => {
  test("a key, a range, a prefix, from a key", () => {
    expect(permRange(["k"], false, false)).toEqual({ key: "k", rangeEnd: "" });
    expect(permRange(["a", "z"], false, false)).toEqual({ key: "a", rangeEnd: "z" });
    expect(permRange(["p/"], true, false)).toEqual({ key: "p/", rangeEnd: "p0" });
    expect(permRange(["\xff"], true, false)).toEqual({ key: "\xff", rangeEnd: "\x00" });
    expect(permRange(["fk"], false, true)).toEqual({ key: "fk", rangeEnd: "\x00" });
  });

  test("the empty key is the key \\0, or every key with --prefix or --from-key", () => {
    expect(permRange([""], false, false)).toEqual({ key: "\x00", rangeEnd: "" });
    expect(permRange([""], true, false)).toEqual({ key: "\x00", rangeEnd: "\x00" });
    expect(permRange([""], false, true)).toEqual({ key: "\x00", rangeEnd: "\x00" });
  });

  test("contradicting flags and arguments fail with etcdctl's words, exit 128", () => {
    expect(failure(() => permRange(["k"], true, true))).toEqual([ExitCode.BadArgs, "--from-key and --prefix flags are mutually exclusive"]);
    expect(failure(() => permRange([""], true, true))).toEqual([ExitCode.BadArgs, "--from-key and --prefix flags are mutually exclusive"]);
    expect(failure(() => permRange(["a", "b"], true, false))).toEqual([ExitCode.BadArgs, "unexpected endkey argument with --prefix flag"]);
    expect(failure(() => permRange(["a", "b"], false, true))).toEqual([ExitCode.BadArgs, "unexpected endkey argument with --from-key flag"]);
  });

  test("permission types in any case", () => {
    expect([parsePermType("read"), parsePermType("Write"), parsePermType("READWRITE")]).toEqual([0, 1, 2]);
    expect(failure(() => parsePermType("rw"))).toEqual([ExitCode.BadArgs, "invalid permission type: rw"]);
  });
});

describe("role get output", () => {
  const res = etcdserverpb.AuthRoleGetResponse.create({
    header: { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n },
    perm: [
      { permType: 0, key: Buffer.from("k1") },
      { permType: 2, key: Buffer.from("p/"), rangeEnd: Buffer.from("p0") },
      { permType: 1, key: Buffer.from("a"), rangeEnd: Buffer.from("z") },
      { permType: 0, key: Buffer.from([0]), rangeEnd: Buffer.from([0]) },
    ],
  });

  test("simple: reads then writes, ranges with their prefix, open ends", () => {
    const f = fakeCtx();
    printRoleGet(f.ctx, "r", res);
    expect(f.out().toString("latin1")).toBe("Role r\nKV Read:\n\tk1\n\t[p/, p0) (prefix p/)\n\t[\x00, <open ended>\nKV Write:\n\t[p/, p0) (prefix p/)\n\t[a, z)\n");
  });

  test("fields: the header, then type, key and end of each permission (%q)", () => {
    const f = fakeCtx("fields");
    printRoleGet(f.ctx, "r", res);
    expect(f.out().toString()).toBe(
      '"ClusterID" : 1\n"MemberID" : 2\n"Revision" : 3\n"RaftTerm" : 4\n' +
        '"PermType" :  READ\n"Key" : "k1"\n"RangeEnd" : ""\n' +
        '"PermType" :  READWRITE\n"Key" : "p/"\n"RangeEnd" : "p0"\n' +
        '"PermType" :  WRITE\n"Key" : "a"\n"RangeEnd" : "z"\n' +
        '"PermType" :  READ\n"Key" : "\\x00"\n"RangeEnd" : "\\x00"\n',
    );
  });

  test("json is the message as Go's encoding/json; table is not supported (exit 4)", () => {
    const f = fakeCtx("json");
    printRoleGet(f.ctx, "r", res);
    expect(f.out().toString()).toBe(
      '{"header":{"cluster_id":1,"member_id":2,"revision":3,"raft_term":4},"perm":[{"key":"azE="},{"permType":2,"key":"cC8=","range_end":"cDA="},{"permType":1,"key":"YQ==","range_end":"eg=="},{"key":"AA==","range_end":"AA=="}]}\n',
    );
    expect(failure(() => printRoleGet(fakeCtx("table").ctx, "r", res))).toEqual([ExitCode.BadFeature, "table not supported as output format"]);
  });
});
describe("passwords", () => {
  test("asked twice as etcdctl does: prompts on stdout, each followed by a newline", async () => {
    const f = fakeCtx("simple", [" pw ", "pw"]);
    expect(await readPasswordTwice(f.ctx, "u1")).toBe("pw");
    expect(f.out().toString()).toBe("Password of u1: \nType password of u1 again for confirmation: \n");
  });

  test("an empty or mismatching password fails with exit 128", async () => {
    const code = async (lines: string[]) => {
      try {
        await readPasswordTwice(fakeCtx("simple", lines).ctx, "u");
      } catch (e) {
        return [(e as CliError).code, (e as CliError).message];
      }
      return null;
    };
    expect(await code([])).toEqual([ExitCode.BadArgs, "empty password"]);
    expect(await code(["a", "b"])).toEqual([ExitCode.BadArgs, "given passwords are different"]);
  });

  test("--interactive=false takes the first word of the line (fmt.Scanf %s)", () => {
    expect(firstWord("p3 p4")).toBe("p3");
    expect(firstWord("  p3")).toBe("p3");
    expect(firstWord("")).toBe("");
    expect(firstWord(null)).toBe("");
  });

  test("--user without a password is asked once for all clients; name:password and --password are not", async () => {
    const asked = fakeCtx("simple", ["secret"], { user: "root" });
    const creds = asked.ctx.credentials()!;
    expect(creds.username).toBe("root");
    const ask = creds.password as () => Promise<string>;
    expect(await Promise.all([ask(), ask()])).toEqual(["secret", "secret"]);
    expect(asked.out().toString()).toBe("Password: \n");
    expect(fakeCtx("simple", [], { user: "root:pw" }).ctx.credentials()!.password).toBe("pw");
    expect(fakeCtx("simple", [], { user: "root", password: "pw" }).ctx.credentials()!.password).toBe("pw");
    expect(fakeCtx("simple", [], { user: "root:" }).ctx.credentials()!.password).toBe("");
    expect(fakeCtx().ctx.credentials()).toBeNull();
  });

  test("a failed Authenticate ends the command as a failed connection (exit 2)", () => {
    const creds = fakeCtx("simple", [], { user: "root:pw" }).ctx.credentials()!;
    const e = creds.onFailure(new CliError(ExitCode.Error, "etcdserver: authentication failed, invalid user ID or password") as never) as CliError;
    expect([e.code, e.message]).toEqual([ExitCode.BadConnection, "etcdserver: authentication failed, invalid user ID or password"]);
  });
});

describe("auth status output (etcdctl 3.5)", () => {
  const res = etcdserverpb.AuthStatusResponse.create({ header: { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n }, enabled: true, authRevision: 9n });
  const print = (w: string) => {
    const f = fakeCtx(w);
    printAuthStatus(f.ctx, res);
    return f.out().toString();
  };

  test("simple, fields and json", () => {
    expect(print("simple")).toBe("Authentication Status: true\nAuthRevision: 9\n");
    expect(print("fields")).toBe('"ClusterID" : 1\n"MemberID" : 2\n"Revision" : 3\n"RaftTerm" : 4\n"Enabled" : true\n"AuthRevision" : 9\n');
    expect(print("json")).toBe('{"header":{"cluster_id":1,"member_id":2,"revision":3,"raft_term":4},"enabled":true,"authRevision":9}\n');
    expect(etcdserverpb.AuthStatusResponse.decode(Buffer.from(print("protobuf"), "latin1")).authRevision).toBe(9n);
  });
});
