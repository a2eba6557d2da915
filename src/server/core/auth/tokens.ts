/**
 * etcd's two token providers (auth/simple_token.go, auth/jwt.go).
 *
 * Simple tokens: "<16 random letters>.<raft index>", made by the member that receives Authenticate
 * (the letters) and completed when the Authenticate entry is applied (the index), on every member,
 * so a token issued through one member works on all of them. They live in memory only: a restarted
 * member has forgotten them (clients authenticate again on "invalid auth token"). Each expires
 * `ttlMs` after its last use (etcd's --auth-token-ttl, default 300 s).
 *
 * JWT: signed by the member that applies Authenticate with --auth-token's priv-key, verified with
 * its pub-key by any member; the claims carry the user, the auth revision at issue and the expiry.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomInt, sign, verify, constants } from "node:crypto";
import { readFileSync } from "node:fs";

export interface TokenInfo {
  username: string;
  /** The auth revision the token stands for (simple tokens: the store's current one). */
  revision: bigint;
  /** The revision was read at lookup (simple tokens), not carried by the token (JWT): see AuthInfo.current. */
  current?: boolean;
}

export interface TokenProvider {
  readonly kind: "simple" | "jwt";
  /** The random part the receiving member chooses before proposing Authenticate ("" for JWT). */
  genPrefix(): string;
  /** Called when the Authenticate entry is applied: the token for this user. */
  assign(username: string, revision: bigint, prefix: string, index: bigint): string;
  /** The user and revision of a token, or undefined if it is unknown, expired or forged. */
  info(token: string, currentRevision: bigint): TokenInfo | undefined;
  /** The raft index a simple token was made at (to wait until this member applied it). */
  indexOf(token: string): bigint | undefined;
  invalidateUser(username: string): void;
  /** Auth disabled: every token is forgotten. */
  disable(): void;
}

/** At most this many live simple tokens per member; the oldest go first (a bound, not a quota). */
const SIMPLE_TOKENS_MAX = 100_000;
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

export class SimpleTokens implements TokenProvider {
  readonly kind = "simple";
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** token → user and expiry; Map order is insertion order, so the first entry is the oldest. */
  readonly #tokens = new Map<string, { username: string; expiresAt: number }>();
  #lastSweep = 0;

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  genPrefix(): string {
    let s = "";
    for (let i = 0; i < 16; i++) s += LETTERS[randomInt(LETTERS.length)];
    return s;
  }

  assign(username: string, _revision: bigint, prefix: string, index: bigint): string {
    const token = `${prefix}.${index}`;
    this.#sweep();
    if (this.#tokens.size >= SIMPLE_TOKENS_MAX) this.#tokens.delete(this.#tokens.keys().next().value!);
    this.#tokens.set(token, { username, expiresAt: this.#now() + this.#ttlMs });
    return token;
  }

  info(token: string, currentRevision: bigint): TokenInfo | undefined {
    const t = this.#tokens.get(token);
    if (!t) return undefined;
    const now = this.#now();
    if (t.expiresAt <= now) {
      this.#tokens.delete(token);
      return undefined;
    }
    t.expiresAt = now + this.#ttlMs; // etcd's TTL keeper resets a token on each use
    return { username: t.username, revision: currentRevision, current: true };
  }

  indexOf(token: string): bigint | undefined {
    const m = /^[A-Za-z]{16}\.(\d{1,19})$/.exec(token);
    return m ? BigInt(m[1]) : undefined;
  }

  invalidateUser(username: string): void {
    for (const [k, t] of this.#tokens) if (t.username === username) this.#tokens.delete(k);
  }

  disable(): void {
    this.#tokens.clear();
  }

  /** Drops expired tokens, at most once a second (bounded work per Authenticate). */
  #sweep(): void {
    const now = this.#now();
    if (now - this.#lastSweep < 1000) return;
    this.#lastSweep = now;
    for (const [k, t] of this.#tokens) if (t.expiresAt <= now) this.#tokens.delete(k);
  }
}

/** The JWS algorithms etcd accepts for --auth-token jwt (RSA, RSA-PSS, ECDSA; EdDSA as etcd 3.5). */
const ALGS: Record<string, { hash: string | null; padding?: number; ecdsa?: boolean; keyType: string[] }> = {
  RS256: { hash: "sha256", padding: constants.RSA_PKCS1_PADDING, keyType: ["rsa"] },
  RS384: { hash: "sha384", padding: constants.RSA_PKCS1_PADDING, keyType: ["rsa"] },
  RS512: { hash: "sha512", padding: constants.RSA_PKCS1_PADDING, keyType: ["rsa"] },
  PS256: { hash: "sha256", padding: constants.RSA_PKCS1_PSS_PADDING, keyType: ["rsa", "rsa-pss"] },
  PS384: { hash: "sha384", padding: constants.RSA_PKCS1_PSS_PADDING, keyType: ["rsa", "rsa-pss"] },
  PS512: { hash: "sha512", padding: constants.RSA_PKCS1_PSS_PADDING, keyType: ["rsa", "rsa-pss"] },
  ES256: { hash: "sha256", ecdsa: true, keyType: ["ec"] },
  ES384: { hash: "sha384", ecdsa: true, keyType: ["ec"] },
  ES512: { hash: "sha512", ecdsa: true, keyType: ["ec"] },
  EdDSA: { hash: null, keyType: ["ed25519"] },
};

export interface JwtOptions {
  signMethod: string;
  publicKey: KeyObject;
  /** Absent: this member verifies tokens but cannot issue them. */
  privateKey?: KeyObject;
  ttlMs: number;
}

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");

export class JwtTokens implements TokenProvider {
  readonly kind = "jwt";
  readonly #opts: JwtOptions;
  readonly #now: () => number;
  readonly #header: string;

  constructor(opts: JwtOptions, now: () => number = Date.now) {
    const alg = ALGS[opts.signMethod];
    if (!alg) throw new Error(`Unsupported JWT sign-method '${opts.signMethod}': use one of ${Object.keys(ALGS).join(", ")}`);
    for (const k of [opts.publicKey, opts.privateKey]) {
      if (k && !alg.keyType.includes(k.asymmetricKeyType ?? "")) {
        throw new Error(`JWT sign-method '${opts.signMethod}' needs a ${alg.keyType[0]} key, not '${k.asymmetricKeyType}'`);
      }
    }
    this.#opts = opts;
    this.#now = now;
    this.#header = b64url(JSON.stringify({ alg: opts.signMethod, typ: "JWT" }));
  }

  genPrefix(): string {
    return "";
  }

  assign(username: string, revision: bigint): string {
    if (!this.#opts.privateKey) return ""; // a verify-only member: the issuing member answers the client
    // etcd's claims: username, revision, exp (seconds).
    const exp = Math.floor((this.#now() + this.#opts.ttlMs) / 1000);
    const payload = b64url(JSON.stringify({ exp, revision: Number(revision), username }));
    const input = `${this.#header}.${payload}`;
    return `${input}.${b64url(this.#sign(Buffer.from(input)))}`;
  }

  info(token: string): TokenInfo | undefined {
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(Buffer.from(parts[0], "base64url").toString());
      if (header?.alg !== this.#opts.signMethod) return undefined; // never "none", never another key type
      if (!this.#verify(Buffer.from(`${parts[0]}.${parts[1]}`), Buffer.from(parts[2], "base64url"))) return undefined;
      const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
      if (typeof claims?.username !== "string" || typeof claims.revision !== "number" || typeof claims.exp !== "number") return undefined;
      if (claims.exp * 1000 <= this.#now()) return undefined;
      if (!Number.isSafeInteger(claims.revision) || claims.revision < 0) return undefined;
      return { username: claims.username, revision: BigInt(claims.revision) };
    } catch {
      return undefined;
    }
  }

  indexOf(): undefined {
    return undefined;
  }

  invalidateUser(): void {}
  disable(): void {}

  #sign(data: Buffer): Buffer {
    const alg = ALGS[this.#opts.signMethod];
    const key = this.#opts.privateKey!;
    if (alg.hash === null) return sign(null, data, key);
    if (alg.ecdsa) return sign(alg.hash, data, { key, dsaEncoding: "ieee-p1363" });
    return sign(alg.hash, data, { key, padding: alg.padding, saltLength: alg.padding === constants.RSA_PKCS1_PSS_PADDING ? digestBytes(alg.hash) : undefined });
  }

  #verify(data: Buffer, sig: Buffer): boolean {
    const alg = ALGS[this.#opts.signMethod];
    const key = this.#opts.publicKey;
    if (alg.hash === null) return verify(null, data, key, sig);
    if (alg.ecdsa) return verify(alg.hash, data, { key, dsaEncoding: "ieee-p1363" }, sig);
    return verify(alg.hash, data, { key, padding: alg.padding, saltLength: alg.padding === constants.RSA_PKCS1_PSS_PADDING ? digestBytes(alg.hash) : undefined }, sig);
  }
}

const digestBytes = (hash: string) => Number(hash.slice(3)) / 8;

/**
 * --auth-token: "simple", or "jwt,pub-key=<file>,priv-key=<file>,sign-method=<alg>[,ttl=<duration>]"
 * (etcd's syntax). `parseDurationMs` is the config's Go-duration parser.
 */
export function tokenProviderFromFlag(spec: string, opts: { ttlSeconds: number; parseDurationMs: (s: string) => number }): TokenProvider {
  const [kind, ...rest] = spec.split(",");
  if (kind === "simple" && rest.length === 0) return new SimpleTokens(opts.ttlSeconds * 1000);
  if (kind !== "jwt") throw new Error(`Unknown --auth-token '${kind}': use 'simple' or 'jwt,pub-key=…,priv-key=…,sign-method=…'`);
  const o: Record<string, string> = {};
  for (const kv of rest) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new Error(`Cannot parse --auth-token option '${kv}': expected name=value`);
    o[kv.slice(0, i)] = kv.slice(i + 1);
  }
  for (const k of Object.keys(o)) if (!["pub-key", "priv-key", "sign-method", "ttl"].includes(k)) throw new Error(`Unknown --auth-token jwt option '${k}'`);
  if (!o["sign-method"]) throw new Error("--auth-token jwt needs sign-method=…");
  if (!o["pub-key"] && !o["priv-key"]) throw new Error("--auth-token jwt needs pub-key=… (and priv-key=… to issue tokens)");
  const privateKey = o["priv-key"] ? createPrivateKey(readFileSync(o["priv-key"])) : undefined;
  const publicKey = o["pub-key"] ? createPublicKey(readFileSync(o["pub-key"])) : createPublicKey(privateKey!);
  const ttlMs = o.ttl ? opts.parseDurationMs(o.ttl) : 5 * 60_000;
  return new JwtTokens({ signMethod: o["sign-method"], publicKey, privateKey, ttlMs });
}
