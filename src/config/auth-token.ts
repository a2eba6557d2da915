import { parseDuration } from "./duration";
import { InvalidValueError } from "./errors";

const JWT_OPTIONS = ["pub-key", "priv-key", "sign-method", "ttl"];

/**
 * --auth-token as etcd spells it: "simple", or "jwt" followed by comma-separated name=value options
 * (pub-key, priv-key, sign-method, ttl). Checked here for shape; the key files are read when the
 * server starts (server/core/auth/tokens.ts), which names the file that cannot be used.
 */
export function parseAuthToken(text: string): string {
  const t = text.trim();
  if (t === "simple") return t;
  const [kind, ...options] = t.split(",");
  if (kind !== "jwt") throw new InvalidValueError(`expected 'simple' or 'jwt,pub-key=…,priv-key=…,sign-method=…', not '${kind}'`);
  const seen = new Set<string>();
  for (const o of options) {
    const i = o.indexOf("=");
    const name = i > 0 ? o.slice(0, i) : o;
    if (!JWT_OPTIONS.includes(name)) throw new InvalidValueError(`unknown jwt option '${name}': expected ${JWT_OPTIONS.join(", ")}`);
    if (i <= 0 || i === o.length - 1) throw new InvalidValueError(`jwt option '${name}' needs a value (${name}=…)`);
    if (name === "ttl") parseDuration(o.slice(i + 1));
    seen.add(name);
  }
  if (!seen.has("sign-method")) throw new InvalidValueError("jwt needs sign-method=… (such as RS256 or ES256)");
  if (!seen.has("pub-key") && !seen.has("priv-key")) throw new InvalidValueError("jwt needs pub-key=… (and priv-key=… on members that issue tokens)");
  return t;
}
