/**
 * The auth store (etcd's auth/store.go): users, roles and their permissions, the enabled flag and
 * the auth revision. It changes only by applying Raft entries (the `apply*` methods, on every
 * member alike, inside the apply's database transaction), and is kept in the backend's meta table
 * as one JSON document, so every member and every restart agrees. Checks read the in-memory copy.
 *
 * The revision goes up with every change (as etcd's commitRevision; enabling auth does not bump
 * it, disabling does); a write proposed under an older revision is refused at apply with
 * "revision of auth store is old", and so is a JWT issued before a change.
 */
import { EtcdError, Errors, GrpcCode } from "../../../pkg/errors.ts";
import { type Perm, UserPerms, compareBytes } from "./perms.ts";
import type { TokenInfo, TokenProvider } from "./tokens.ts";

export const ROOT = "root";

export interface AuthInfo {
  username: string;
  revision: bigint;
  /**
   * The revision is the store's as of the lookup (a simple token, a TLS CN), not one the caller
   * carries (a JWT): a write refused because auth changed while it was in flight may be proposed
   * again with the current revision, as etcd's raftRequest does.
   */
  current?: boolean;
}

interface User {
  name: string;
  /** bcrypt hash; "" for a user added with --no-password. */
  password: string;
  roles: string[];
  noPassword: boolean;
}

interface Role {
  name: string;
  perms: Perm[];
}

/** What the meta table holds (bytes as base64). */
interface Saved {
  enabled: boolean;
  revision: string;
  users: User[];
  roles: { name: string; perms: { t: number; k: string; e: string }[] }[];
}

export interface AuthBackend {
  getMeta(name: string): unknown;
  setMeta(name: string, value: string): void;
}

const META_KEY = "auth";
const EMPTY = new Uint8Array(0);

/** The Maintenance service's auth errors: etcd returns them unconverted, so clients see gRPC Unknown. */
export const MaintenanceErrors = {
  permissionDenied: new EtcdError(GrpcCode.Unknown, "auth: permission denied"),
  userEmpty: new EtcdError(GrpcCode.Unknown, "auth: user name is empty"),
  userNotFound: new EtcdError(GrpcCode.Unknown, "auth: user name not found"),
} as const;

export class AuthStore {
  #enabled = false;
  #revision = 1n;
  #users = new Map<string, User>();
  #roles = new Map<string, Role>();
  /** Merged permissions per user, dropped on every change (etcd's rangePermCache). */
  #cache = new Map<string, UserPerms>();
  #backend: AuthBackend;
  readonly tokens: TokenProvider;

  constructor(backend: AuthBackend, tokens: TokenProvider) {
    this.#backend = backend;
    this.tokens = tokens;
    this.#load();
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get revision(): bigint {
    return this.#revision;
  }

  /** After a snapshot from the leader replaced the database. */
  recover(backend: AuthBackend): void {
    this.#backend = backend;
    const wasEnabled = this.#enabled;
    this.#load();
    if (wasEnabled && !this.#enabled) this.tokens.disable();
  }

  #load(): void {
    const text = this.#backend.getMeta(META_KEY);
    this.#users.clear();
    this.#roles.clear();
    this.#cache.clear();
    if (typeof text !== "string") {
      this.#enabled = false;
      this.#revision = 1n;
      return;
    }
    const s = JSON.parse(text) as Saved;
    this.#enabled = s.enabled;
    this.#revision = BigInt(s.revision);
    for (const u of s.users) this.#users.set(u.name, { ...u, roles: [...u.roles] });
    for (const r of s.roles) {
      const perms = r.perms.map((p) => ({ permType: p.t, key: Buffer.from(p.k, "base64"), rangeEnd: Buffer.from(p.e, "base64") }));
      this.#roles.set(r.name, { name: r.name, perms });
    }
  }

  /** Bumps the revision and writes the whole store (auth changes are rare; the store is small). */
  #commit(bump = true): void {
    if (bump) this.#revision++;
    this.#cache.clear();
    const s: Saved = {
      enabled: this.#enabled,
      revision: this.#revision.toString(),
      users: [...this.#users.values()],
      roles: [...this.#roles.values()].map((r) => ({
        name: r.name,
        perms: r.perms.map((p) => ({ t: p.permType, k: Buffer.from(p.key).toString("base64"), e: Buffer.from(p.rangeEnd).toString("base64") })),
      })),
    };
    this.#backend.setMeta(META_KEY, JSON.stringify(s));
  }

  // ---- reads for the API layer ----

  /** The stored hash of a user who may log in with a password, or undefined. */
  passwordHash(name: string): string | undefined {
    const u = this.#users.get(name);
    return u && !u.noPassword ? u.password : undefined;
  }

  userExists(name: string): boolean {
    return this.#users.has(name);
  }

  hasRole(user: string, role: string): boolean {
    return this.#users.get(user)?.roles.includes(role) ?? false;
  }

  /** The user behind a token, or undefined if the token is unknown, expired or forged. */
  tokenInfo(token: string): TokenInfo | undefined {
    return this.tokens.info(token, this.#revision);
  }

  // ---- checks (etcd's isOpPermitted / IsAdminPermitted) ----

  /** Throws unless `info` may `want` on [key, rangeEnd). No-op with auth disabled. */
  checkOp(info: AuthInfo | undefined, want: "read" | "write", key: Uint8Array | null | undefined, rangeEnd?: Uint8Array | null): void {
    if (!this.#enabled) return;
    if (!info || info.revision === 0n) throw Errors.userEmpty;
    if (info.revision < this.#revision) throw Errors.authOldRevision;
    const user = this.#users.get(info.username);
    if (!user) throw Errors.permissionDenied;
    if (user.roles.includes(ROOT)) return;
    if (!this.#permsOf(user).permits(want, key ?? EMPTY, rangeEnd)) throw Errors.permissionDenied;
  }

  checkAdmin(info: AuthInfo | undefined, errors: { userEmpty: EtcdError; userNotFound: EtcdError; permissionDenied: EtcdError } = Errors): void {
    if (!this.#enabled) return;
    if (!info || info.username === "") throw errors.userEmpty;
    const u = this.#users.get(info.username);
    if (!u) throw errors.userNotFound;
    if (!u.roles.includes(ROOT)) throw errors.permissionDenied;
  }

  #permsOf(user: User): UserPerms {
    let p = this.#cache.get(user.name);
    if (!p) {
      const perms: Perm[] = [];
      for (const r of user.roles) perms.push(...(this.#roles.get(r)?.perms ?? []));
      p = new UserPerms(perms);
      this.#cache.set(user.name, p);
    }
    return p;
  }

  // ---- apply (deterministic; every member runs these for the same entries) ----

  applyEnable(): void {
    if (this.#enabled) return;
    const root = this.#users.get(ROOT);
    if (!root) throw Errors.rootUserNotExist;
    if (!root.roles.includes(ROOT)) throw Errors.rootRoleNotExist;
    this.#enabled = true;
    this.#commit(false);
  }

  applyDisable(): void {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.tokens.disable();
    this.#commit();
  }

  /** Authenticate's apply: the token for a user who exists (the password was checked before proposing). */
  applyAuthenticate(name: string, prefix: string, index: bigint): string {
    if (!this.#enabled) throw Errors.authNotEnabled;
    const u = this.#users.get(name);
    if (!u || u.noPassword) throw Errors.authFailed;
    return this.tokens.assign(name, this.#revision, prefix, index);
  }

  applyUserAdd(r: { name?: string | null; hashedPassword?: string | null; options?: { noPassword?: boolean | null } | null }): void {
    const name = r.name ?? "";
    if (name === "") throw Errors.userEmpty;
    if (this.#users.has(name)) throw Errors.userAlreadyExist;
    const noPassword = !!r.options?.noPassword;
    this.#users.set(name, { name, password: noPassword ? "" : (r.hashedPassword ?? ""), roles: [], noPassword });
    this.#commit();
  }

  applyUserDelete(name: string): void {
    if (this.#enabled && name === ROOT) throw Errors.invalidAuthMgmt;
    if (!this.#users.delete(name)) throw Errors.userNotFound;
    this.tokens.invalidateUser(name);
    this.#commit();
  }

  applyUserChangePassword(name: string, hashedPassword: string): void {
    const u = this.#users.get(name);
    if (!u) throw Errors.userNotFound;
    u.password = hashedPassword;
    u.noPassword = false;
    this.tokens.invalidateUser(name);
    this.#commit();
  }

  applyUserGrantRole(user: string, role: string): void {
    const u = this.#users.get(user);
    if (!u) throw Errors.userNotFound;
    if (role !== ROOT && !this.#roles.has(role)) throw Errors.roleNotFound;
    if (u.roles.includes(role)) return; // etcd: ignored, no new revision
    u.roles = [...u.roles, role].sort();
    this.#commit();
  }

  applyUserRevokeRole(user: string, role: string): void {
    if (this.#enabled && user === ROOT && role === ROOT) throw Errors.invalidAuthMgmt;
    const u = this.#users.get(user);
    if (!u) throw Errors.userNotFound;
    if (!u.roles.includes(role)) throw Errors.roleNotGranted;
    u.roles = u.roles.filter((r) => r !== role);
    this.#commit();
  }

  userGet(name: string): string[] {
    const u = this.#users.get(name);
    if (!u) throw Errors.userNotFound;
    return [...u.roles];
  }

  userList(): string[] {
    return [...this.#users.keys()].sort();
  }

  applyRoleAdd(name: string): void {
    if (name === "") throw Errors.roleEmpty;
    if (this.#roles.has(name)) throw Errors.roleAlreadyExist;
    this.#roles.set(name, { name, perms: [] });
    this.#commit();
  }

  applyRoleDelete(name: string): void {
    if (this.#enabled && name === ROOT) throw Errors.invalidAuthMgmt;
    if (!this.#roles.delete(name)) throw Errors.roleNotFound;
    // As etcd 3.4: the role is taken from every user who had it.
    for (const u of this.#users.values()) {
      if (u.roles.includes(name)) u.roles = u.roles.filter((r) => r !== name);
    }
    this.#commit();
  }

  roleGet(name: string): Perm[] {
    const r = this.#roles.get(name);
    if (!r) throw Errors.roleNotFound;
    return r.perms.map((p) => ({ ...p }));
  }

  roleList(): string[] {
    return [...this.#roles.keys()].sort();
  }

  applyRoleGrantPermission(name: string, perm: { permType?: number | null; key?: Uint8Array | null; rangeEnd?: Uint8Array | null }): void {
    const r = this.#roles.get(name);
    if (!r) throw Errors.roleNotFound;
    const key = perm.key ?? EMPTY;
    const rangeEnd = perm.rangeEnd ?? EMPTY;
    const permType = perm.permType ?? 0;
    const same = r.perms.find((p) => compareBytes(p.key, key) === 0 && compareBytes(p.rangeEnd, rangeEnd) === 0);
    if (same) same.permType = permType;
    else {
      r.perms.push({ permType, key: Uint8Array.from(key), rangeEnd: Uint8Array.from(rangeEnd) });
      // etcd keeps them sorted by key (stable for equal keys).
      r.perms.sort((a, b) => compareBytes(a.key, b.key));
    }
    this.#commit();
  }

  applyRoleRevokePermission(name: string, key: Uint8Array, rangeEnd: Uint8Array): void {
    const r = this.#roles.get(name);
    if (!r) throw Errors.roleNotFound;
    const kept = r.perms.filter((p) => compareBytes(p.key, key) !== 0 || compareBytes(p.rangeEnd, rangeEnd) !== 0);
    if (kept.length === r.perms.length) throw Errors.permissionNotGranted;
    r.perms = kept;
    this.#commit();
  }
}

/** The auth store's content as plain data, for snapshots in etcd's format (its auth buckets). */
export interface AuthSnapshot {
  enabled: boolean;
  revision: bigint;
  /** password: the bcrypt hash, which etcd stores too (the same algorithm, so hashes carry over). */
  users: { name: string; password: string; roles: string[]; noPassword: boolean }[];
  roles: { name: string; perms: Perm[] }[];
}

/** Reads the persisted store from a database's meta (none: auth never used). */
export function readAuthSnapshot(getMeta: (name: string) => unknown): AuthSnapshot | null {
  const text = getMeta(META_KEY);
  if (typeof text !== "string") return null;
  const s = JSON.parse(text) as Saved;
  return {
    enabled: s.enabled,
    revision: BigInt(s.revision),
    users: s.users.map((u) => ({ ...u, roles: [...u.roles] })),
    roles: s.roles.map((r) => ({ name: r.name, perms: r.perms.map((p) => ({ permType: p.t as Perm["permType"], key: Buffer.from(p.k, "base64"), rangeEnd: Buffer.from(p.e, "base64") })) })),
  };
}

/** Writes a store's content into a database's meta, as the store itself persists it. */
export function writeAuthSnapshot(a: AuthSnapshot, setMeta: (name: string, value: string) => void): void {
  const s: Saved = {
    enabled: a.enabled,
    revision: a.revision.toString(),
    users: a.users,
    roles: a.roles.map((r) => ({
      name: r.name,
      perms: r.perms.map((p) => ({ t: p.permType, k: Buffer.from(p.key).toString("base64"), e: Buffer.from(p.rangeEnd).toString("base64") })),
    })),
  };
  setMeta(META_KEY, JSON.stringify(s));
}
