import { InvalidValueError, quote } from "./errors";
import { FrozenMap } from "./frozen-map";
import { parseUrl, urlKey } from "./urls";

const SHAPE = "expected name=peer-url pairs separated by commas, such as n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380";

/**
 * Parses --initial-cluster ("n1=http://a:2380,n1=http://a2:2380,n2=http://b:2380")
 * into member name → peer URLs, keeping first-seen order. A member with
 * several peer URLs repeats its name, as in etcd.
 */
export function parseInitialCluster(text: string): FrozenMap<string, readonly string[]> {
  const members = new Map<string, string[]>();
  const owners = new Map<string, string>();
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (part === "") continue; // etcd parses this like a query string, which skips empty pairs
    const eq = part.indexOf("=");
    if (eq < 0) throw new InvalidValueError(`${quote(part)} is missing '='; ${SHAPE}`);
    const name = part.slice(0, eq).trim();
    if (name === "") throw new InvalidValueError(`${quote(part)} has no member name before '='; ${SHAPE}`);
    const url = parseUrl(part.slice(eq + 1), { example: "http://10.0.0.1:2380", allowPortZero: false });
    const key = urlKey(url);
    const owner = owners.get(key);
    if (owner !== undefined && owner !== name) {
      throw new InvalidValueError(`peer URL ${url.url} is listed for both "${owner}" and "${name}"; give each member its own peer URLs`);
    }
    if (owner === name) continue;
    owners.set(key, name);
    const urls = members.get(name);
    if (urls === undefined) members.set(name, [url.url]);
    else urls.push(url.url);
  }
  if (members.size === 0) throw new InvalidValueError(SHAPE);
  return new FrozenMap([...members].map(([name, urls]) => [name, Object.freeze(urls)] as const));
}

/** Back to etcd's text form, for logs and for comparing with what the operator wrote. */
export function formatInitialCluster(members: ReadonlyMap<string, readonly string[]>): string {
  const pairs: string[] = [];
  for (const [name, urls] of members) for (const url of urls) pairs.push(`${name}=${url}`);
  return pairs.join(",");
}
