/**
 * Authentication as clientv3 does it: given a user name and a password, the client asks Authenticate
 * for a token before its first call, sends it as the "token" metadata on every call and stream, and
 * asks again when the server says the token is no longer good (a restarted member forgets its simple
 * tokens; a change to users or roles makes tokens old). Without both a name and a password it sends
 * nothing, and a server without auth enabled is simply used without a token.
 */
import { type EtcdError, Errors } from "../pkg/errors.ts";

export interface Credentials {
  username: string;
  /** The password, or a function asked once, on first use (etcdctl's "Password: " prompt). */
  password: string | (() => Promise<string>);
  /** What to throw when Authenticate fails (default: its error); etcdctl exits 2 there, as for a failed dial. */
  onFailure?: (err: EtcdError) => unknown;
}

/** One Authenticate call: the token it returns. */
export type Authenticate = (name: string, password: string, deadline: number | undefined) => Promise<string>;

/**
 * Errors after which clientv3 gets a new token and tries the call again (shouldRefreshToken): the
 * token is unknown to this member, older than the auth store, or missing while auth is now enabled.
 */
export function needsNewToken(err: unknown): boolean {
  return err === Errors.invalidAuthToken || err === Errors.authOldRevision || err === Errors.userEmpty;
}

/** The current token, shared by every call; one Authenticate at a time. */
export class TokenKeeper {
  readonly #username: string;
  #password: string | (() => Promise<string>);
  readonly #onFailure: (err: EtcdError) => unknown;
  readonly #authenticate: Authenticate;
  /** null: none yet (or dropped); "": none needed (no password, or auth not enabled on the server). */
  #token: string | null = null;
  #pending: Promise<string> | null = null;

  constructor(creds: Credentials, authenticate: Authenticate) {
    this.#username = creds.username;
    this.#password = creds.password;
    this.#onFailure = creds.onFailure ?? ((err) => err);
    this.#authenticate = authenticate;
  }

  /**
   * The token to send ("" for none). `fresh` authenticates again even when one is held, as clientv3
   * does before opening every stream (a stream may outlive its member's memory of the token).
   */
  token(deadline: number | undefined, fresh = false): Promise<string> {
    if (this.#pending) return this.#pending;
    if (this.#token !== null && !fresh) return Promise.resolve(this.#token);
    const p = this.#fetch(deadline).finally(() => {
      if (this.#pending === p) this.#pending = null;
    });
    this.#pending = p;
    return p;
  }

  /** The server refused `token`: forget it, unless a newer one has replaced it already. */
  invalidate(token: string): void {
    if (this.#token === token) this.#token = null;
  }

  async #fetch(deadline: number | undefined): Promise<string> {
    if (typeof this.#password === "function") this.#password = await this.#password();
    const password = this.#password;
    // clientv3 authenticates only with both a name and a password (Username != "" && Password != "").
    if (!this.#username || !password) return (this.#token = "");
    try {
      this.#token = await this.#authenticate(this.#username, password, deadline);
    } catch (err) {
      if (err === Errors.authNotEnabled) return (this.#token = "");
      throw this.#onFailure(err as EtcdError);
    }
    return this.#token;
  }
}
