/**
 * The Auth service's API layer (etcd's v3_server.go auth methods): who the caller is (token header,
 * or the verified TLS client certificate's CN), the admin pre-checks, password hashing and checking
 * before anything is proposed (so neither the log nor the WAL ever holds a password), and the reads
 * (user/role get and list) answered from this member's store after a linearizable read.
 */
import type { etcdserverpb } from "../../../proto/etcd.js";
import { Errors } from "../../../pkg/errors.ts";
import { hashPassword, PasswordChecker } from "./password.ts";
import { type AuthInfo, type AuthStore, ROOT } from "./store.ts";

type Header = { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint };
type Propose = (body: etcdserverpb.InternalRaftRequest.$Properties, ai?: AuthInfo) => Promise<{ header: { revision: bigint }; token?: string }>;

/** What a call brings: its request headers and, on a TLS port with --client-cert-auth, the verified client certificate's CN. */
export interface CallIdentity {
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly tlsCommonName?: string;
}

export interface AuthServiceDeps {
  store: AuthStore;
  propose: Propose;
  linearizableRead(): Promise<void>;
  header(revision?: bigint): Header;
  /** Resolves once this member applied `index`, or rejects after the request timeout. */
  waitApplied(index: bigint): Promise<void>;
  maxRequestBytes: number;
  bcryptCost: number;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

export class AuthService {
  readonly #d: AuthServiceDeps;
  readonly #passwords: PasswordChecker;

  constructor(deps: AuthServiceDeps) {
    this.#d = deps;
    this.#passwords = new PasswordChecker(deps.bcryptCost);
  }

  get store(): AuthStore {
    return this.#d.store;
  }

  /**
   * The caller, when auth is enabled (callers check `store.enabled` first: with auth off nothing
   * here runs). A token that this member does not know is "invalid auth token"; none at all and no
   * client certificate: undefined (the check that needs a user then says "user name is empty").
   * gRPC sends the token as `token`, etcd's JSON gateway as `Authorization`.
   */
  async who(call: CallIdentity): Promise<AuthInfo | undefined> {
    const token = call.headers.token ?? call.headers.authorization;
    if (token !== undefined) {
      // A simple token made by another member's Authenticate: wait until this member applied it.
      const index = this.#d.store.tokens.indexOf(token);
      if (index !== undefined) await this.#d.waitApplied(index);
    }
    return this.whoNow(call);
  }

  /** `who` without waiting (watch creates: a stream's token was already waited for when it opened). */
  whoNow(call: CallIdentity): AuthInfo | undefined {
    const token = call.headers.token ?? call.headers.authorization;
    if (token !== undefined && token !== "") {
      const info = this.#d.store.tokenInfo(token);
      if (!info) throw Errors.invalidAuthToken;
      return info;
    }
    if (call.tlsCommonName) return { username: call.tlsCommonName, revision: this.#d.store.revision, current: true };
    return undefined;
  }

  #admin(ai: AuthInfo | undefined): void {
    this.#d.store.checkAdmin(ai);
  }

  #tooLarge(...texts: (string | null | undefined)[]): void {
    let n = 0;
    for (const t of texts) n += t ? Buffer.byteLength(t) : 0;
    if (n > this.#d.maxRequestBytes) throw Errors.requestTooLarge;
  }

  async #write(body: etcdserverpb.InternalRaftRequest.$Properties, ai: AuthInfo | undefined): Promise<{ header: Header }> {
    const out = await this.#d.propose(body, ai);
    return { header: this.#d.header(out.header.revision) };
  }

  async authenticate(r: etcdserverpb.AuthenticateRequest.$Properties): Promise<{ header: Header; token: string }> {
    const name = r.name ?? "";
    const password = r.password ?? "";
    this.#tooLarge(name, password);
    await this.#d.linearizableRead();
    // As etcd: retry if the store changed while the password was being checked.
    for (let attempt = 0; attempt < 3; attempt++) {
      const store = this.#d.store;
      if (!store.enabled) throw Errors.authNotEnabled;
      const revision = store.revision;
      if (!(await this.#passwords.check(name, password, store.passwordHash(name)))) {
        this.#d.log("warn", "authentication failed: invalid user name or password", { user: name });
        throw Errors.authFailed;
      }
      const out = await this.#d.propose({ authenticate: { name, simpleToken: store.tokens.genPrefix() } });
      if (revision === store.revision) return { header: this.#d.header(out.header.revision), token: out.token ?? "" };
    }
    throw Errors.authOldRevision;
  }

  status(): { header: Header; enabled: boolean; authRevision: bigint } {
    return { header: this.#d.header(), enabled: this.#d.store.enabled, authRevision: this.#d.store.revision };
  }

  enable(ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authEnable: {} }, ai);
  }

  disable(ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authDisable: {} }, ai);
  }

  async userAdd(r: etcdserverpb.AuthUserAddRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    this.#tooLarge(r.name, r.password);
    if (!r.name) throw Errors.userEmpty;
    const noPassword = !!r.options?.noPassword;
    // Hashed here, off the apply path and out of the log (etcd 3.5's hashedPassword).
    const hashedPassword = noPassword ? "" : await hashPassword(r.password ?? "", this.#d.bcryptCost);
    return this.#write({ authUserAdd: { name: r.name, options: { noPassword }, hashedPassword } }, ai);
  }

  userDelete(r: etcdserverpb.AuthUserDeleteRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authUserDelete: { name: r.name ?? "" } }, ai);
  }

  async userChangePassword(r: etcdserverpb.AuthUserChangePasswordRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    this.#tooLarge(r.name, r.password);
    const hashedPassword = await hashPassword(r.password ?? "", this.#d.bcryptCost);
    return this.#write({ authUserChangePassword: { name: r.name ?? "", hashedPassword } }, ai);
  }

  userGrantRole(r: etcdserverpb.AuthUserGrantRoleRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authUserGrantRole: { user: r.user ?? "", role: r.role ?? "" } }, ai);
  }

  userRevokeRole(r: etcdserverpb.AuthUserRevokeRoleRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authUserRevokeRole: { name: r.name ?? "", role: r.role ?? "" } }, ai);
  }

  roleAdd(r: etcdserverpb.AuthRoleAddRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authRoleAdd: { name: r.name ?? "" } }, ai);
  }

  roleDelete(r: etcdserverpb.AuthRoleDeleteRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authRoleDelete: { role: r.role ?? "" } }, ai);
  }

  roleGrantPermission(r: etcdserverpb.AuthRoleGrantPermissionRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authRoleGrantPermission: { name: r.name ?? "", perm: r.perm } }, ai);
  }

  roleRevokePermission(r: etcdserverpb.AuthRoleRevokePermissionRequest.$Properties, ai: AuthInfo | undefined) {
    this.#admin(ai);
    return this.#write({ authRoleRevokePermission: { role: r.role ?? "", key: r.key, rangeEnd: r.rangeEnd } }, ai);
  }

  /** A user may read their own entry; root any (etcd's authApplierV3.UserGet). */
  async userGet(r: etcdserverpb.AuthUserGetRequest.$Properties, ai: AuthInfo | undefined) {
    const name = r.name ?? "";
    if (!(ai && ai.username === name && this.#d.store.enabled)) this.#admin(ai);
    await this.#d.linearizableRead();
    return { header: this.#d.header(), roles: this.#d.store.userGet(name) };
  }

  /** A user may read a role they have; root any (etcd's authApplierV3.RoleGet). */
  async roleGet(r: etcdserverpb.AuthRoleGetRequest.$Properties, ai: AuthInfo | undefined) {
    const role = r.role ?? "";
    if (!(ai && this.#d.store.enabled && this.#d.store.hasRole(ai.username, role))) this.#admin(ai);
    await this.#d.linearizableRead();
    return { header: this.#d.header(), perm: this.#d.store.roleGet(role) };
  }

  async userList(ai: AuthInfo | undefined) {
    this.#admin(ai);
    await this.#d.linearizableRead();
    return { header: this.#d.header(), users: this.#d.store.userList() };
  }

  async roleList(ai: AuthInfo | undefined) {
    this.#admin(ai);
    await this.#d.linearizableRead();
    return { header: this.#d.header(), roles: this.#d.store.roleList() };
  }
}

export { ROOT };
