import { describe, expect, test } from "bun:test";
import { Errors } from "../../../pkg/errors.ts";
import { hashPassword, PasswordChecker } from "./password.ts";
import { AuthStore } from "./store.ts";
import { JwtTokens, SimpleTokens } from "./tokens.ts";
import { generateKeyPairSync } from "node:crypto";

const b = (s: string) => new TextEncoder().encode(s);

function memoryBackend() {
  const meta = new Map<string, unknown>();
  return { getMeta: (k: string) => meta.get(k), setMeta: (k: string, v: string) => void meta.set(k, v), meta };
}

function storeWithRoot(now = () => 1000) {
  const be = memoryBackend();
  const s = new AuthStore(be, new SimpleTokens(300_000, now));
  s.applyUserAdd({ name: "root", hashedPassword: "h" });
  s.applyUserGrantRole("root", "root");
  return { s, be };
}

describe("AuthStore", () => {
  test("auth enable needs the root user with the root role; enabling keeps the revision, disabling bumps it", () => {
    const s = new AuthStore(memoryBackend(), new SimpleTokens(1000));
    expect(() => s.applyEnable()).toThrow(Errors.rootUserNotExist);
    s.applyUserAdd({ name: "root", hashedPassword: "h" });
    expect(() => s.applyEnable()).toThrow(Errors.rootRoleNotExist);
    s.applyUserGrantRole("root", "root");
    const rev = s.revision;
    s.applyEnable();
    expect([s.enabled, s.revision]).toEqual([true, rev]);
    s.applyDisable();
    expect([s.enabled, s.revision]).toEqual([false, rev + 1n]);
  });

  test("root rules while enabled: root cannot be deleted nor lose the root role; the root role cannot be deleted", () => {
    const { s } = storeWithRoot();
    s.applyRoleAdd("root");
    s.applyEnable();
    expect(() => s.applyUserDelete("root")).toThrow(Errors.invalidAuthMgmt);
    expect(() => s.applyUserRevokeRole("root", "root")).toThrow(Errors.invalidAuthMgmt);
    expect(() => s.applyRoleDelete("root")).toThrow(Errors.invalidAuthMgmt);
  });

  test("every change bumps the revision; a stale revision is refused; root may do anything", () => {
    const { s } = storeWithRoot();
    s.applyUserAdd({ name: "alice", hashedPassword: "h" });
    s.applyRoleAdd("app");
    s.applyRoleGrantPermission("app", { permType: 0, key: b("a/"), rangeEnd: b("a0") });
    s.applyUserGrantRole("alice", "app");
    s.applyEnable();
    const rev = s.revision;
    const alice = { username: "alice", revision: rev };
    s.checkOp(alice, "read", b("a/x"));
    expect(() => s.checkOp(alice, "write", b("a/x"))).toThrow(Errors.permissionDenied);
    expect(() => s.checkOp(alice, "read", b("b"))).toThrow(Errors.permissionDenied);
    expect(() => s.checkOp(undefined, "read", b("a/x"))).toThrow(Errors.userEmpty);
    expect(() => s.checkOp({ username: "nobody", revision: rev }, "read", b("a/x"))).toThrow(Errors.permissionDenied);
    s.checkOp({ username: "root", revision: rev }, "write", b("anything"), b("\0"));
    s.applyRoleGrantPermission("app", { permType: 2, key: b("a/"), rangeEnd: b("a0") });
    expect(s.revision).toBe(rev + 1n);
    expect(() => s.checkOp(alice, "read", b("a/x"))).toThrow(Errors.authOldRevision);
    s.checkOp({ ...alice, revision: s.revision }, "write", b("a/x"));
    // The grant replaced the permission for the same range rather than adding one.
    expect(s.roleGet("app").length).toBe(1);
  });

  test("admin checks: no user, unknown user, not root", () => {
    const { s } = storeWithRoot();
    s.applyUserAdd({ name: "bob", hashedPassword: "h" });
    s.applyEnable();
    expect(() => s.checkAdmin(undefined)).toThrow(Errors.userEmpty);
    expect(() => s.checkAdmin({ username: "ghost", revision: 1n })).toThrow(Errors.userNotFound);
    expect(() => s.checkAdmin({ username: "bob", revision: 1n })).toThrow(Errors.permissionDenied);
    s.checkAdmin({ username: "root", revision: 1n });
  });

  test("errors as etcd's: duplicates, unknown names, revoking what was not granted", () => {
    const { s } = storeWithRoot();
    expect(() => s.applyUserAdd({ name: "root" })).toThrow(Errors.userAlreadyExist);
    expect(() => s.applyUserAdd({ name: "" })).toThrow(Errors.userEmpty);
    expect(() => s.applyRoleAdd("")).toThrow(Errors.roleEmpty);
    s.applyRoleAdd("r");
    expect(() => s.applyRoleAdd("r")).toThrow(Errors.roleAlreadyExist);
    expect(() => s.applyUserGrantRole("root", "nosuch")).toThrow(Errors.roleNotFound);
    expect(() => s.applyUserGrantRole("nosuch", "r")).toThrow(Errors.userNotFound);
    expect(() => s.applyUserRevokeRole("root", "r")).toThrow(Errors.roleNotGranted);
    expect(() => s.applyRoleRevokePermission("r", b("k"), b(""))).toThrow(Errors.permissionNotGranted);
    expect(() => s.applyRoleDelete("nosuch")).toThrow(Errors.roleNotFound);
  });

  test("deleting a role takes it from its users; the store survives a reload from the backend", () => {
    const { s, be } = storeWithRoot();
    s.applyRoleAdd("r");
    s.applyRoleGrantPermission("r", { permType: 1, key: b("\0"), rangeEnd: b("\0") });
    s.applyUserAdd({ name: "u", hashedPassword: "hash-u" });
    s.applyUserGrantRole("u", "r");
    s.applyEnable();
    const again = new AuthStore(be, new SimpleTokens(1000));
    expect([again.enabled, again.revision, again.userGet("u"), again.passwordHash("u")]).toEqual([true, s.revision, ["r"], "hash-u"]);
    expect(again.roleGet("r")[0].rangeEnd).toEqual(Buffer.from([0]));
    s.applyRoleDelete("r");
    expect(s.userGet("u")).toEqual([]);
  });

  test("simple tokens: made at apply, known until their TTL passes unused, dropped with the user", () => {
    let now = 0;
    const { s } = storeWithRoot(() => now);
    s.applyEnable();
    const token = s.applyAuthenticate("root", "abcdefghijklmnop", 42n);
    expect(token).toBe("abcdefghijklmnop.42");
    expect(s.tokens.indexOf(token)).toBe(42n);
    now = 200_000;
    expect(s.tokenInfo(token)?.username).toBe("root"); // use resets the TTL
    now = 450_000;
    expect(s.tokenInfo(token)?.username).toBe("root");
    now = 751_000;
    expect(s.tokenInfo(token)).toBeUndefined();
    expect(() => s.applyAuthenticate("ghost", "x", 1n)).toThrow(Errors.authFailed);
  });
});

describe("JWT tokens", () => {
  for (const [alg, type, opts] of [
    ["RS256", "rsa", { modulusLength: 2048 }],
    ["PS256", "rsa", { modulusLength: 2048 }],
    ["ES256", "ec", { namedCurve: "P-256" }],
    ["EdDSA", "ed25519", {}],
  ] as const) {
    test(`${alg}: verified; tampered, re-signed with another key, or expired: refused`, () => {
      const { publicKey, privateKey } = generateKeyPairSync(type as "rsa", opts as { modulusLength: number });
      let now = 1_000_000;
      const jwt = new JwtTokens({ signMethod: alg, publicKey, privateKey, ttlMs: 60_000 }, () => now);
      const token = jwt.assign("alice", 7n);
      expect(jwt.info(token)).toEqual({ username: "alice", revision: 7n });
      const [h, p, sig] = token.split(".");
      const claims = JSON.parse(Buffer.from(p, "base64url").toString());
      const forged = Buffer.from(JSON.stringify({ ...claims, username: "root" })).toString("base64url");
      expect(jwt.info(`${h}.${forged}.${sig}`)).toBeUndefined();
      const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
      expect(jwt.info(`${none}.${p}.`)).toBeUndefined();
      const other = generateKeyPairSync(type as "rsa", opts as { modulusLength: number });
      const mallory = new JwtTokens({ signMethod: alg, publicKey: other.publicKey, privateKey: other.privateKey, ttlMs: 60_000 }, () => now);
      expect(jwt.info(mallory.assign("root", 7n))).toBeUndefined();
      now += 61_000;
      expect(jwt.info(token)).toBeUndefined();
    });
  }
});

describe("PasswordChecker", () => {
  test("right and wrong passwords; unknown users fail alike; repeated failures wait longer", async () => {
    const slept: number[] = [];
    const pc = new PasswordChecker(4, { sleep: async (ms) => void slept.push(ms) });
    const hash = await hashPassword("secret", 4);
    expect(await pc.check("u", "secret", hash)).toBe(true);
    expect(await pc.check("ghost", "secret", undefined)).toBe(false);
    for (let i = 0; i < 6; i++) expect(await pc.check("u", "guess", hash)).toBe(false);
    expect(slept).toEqual([250, 500, 1000]);
    expect(pc.delayMs("u")).toBe(2000);
    expect(await pc.check("u", "secret", hash)).toBe(true);
    expect(pc.delayMs("u")).toBe(0);
  });
});
