/**
 * What an etcd 3.4/3.5 log entry asks for, read the way etcd's apply reads it:
 * - a normal entry is an InternalRaftRequest, or (etcd 3.4's member publish, cluster version and
 *   SYNC) a bare v2 etcdserverpb.Request — etcd tries the first and falls back to the second;
 * - a conf change's context is etcd's Member JSON ({"id", "peerURLs", "isLearner", "name",
 *   "clientURLs"}, plus "isPromote" when adding), ids as bare uint64 numbers.
 */
import protobuf from "protobufjs/minimal.js";
import { parseWhole } from "../../../pkg/go-json.ts";
import { etcdserverpb } from "../../../proto/etcd.js";

export type EtcdRequest =
  | { kind: "empty" }
  | { kind: "v2"; req: etcdserverpb.Request }
  | { kind: "v3"; req: etcdserverpb.InternalRaftRequest };

/** The methods etcd's v2 requests carry: a field 2 holding one of these is a bare v2 Request. */
const V2_METHODS = new Set(["GET", "QGET", "HEAD", "PUT", "POST", "DELETE", "SYNC"]);

export function readNormalEntry(data: Uint8Array): EtcdRequest {
  if (data.length === 0) return { kind: "empty" };
  if (isBareV2(data)) return { kind: "v2", req: etcdserverpb.Request.decode(data) };
  const req = etcdserverpb.InternalRaftRequest.decode(data);
  return req.v2 ? { kind: "v2", req: req.v2 as etcdserverpb.Request } : { kind: "v3", req };
}

/**
 * An InternalRaftRequest's field 2 is a nested Request message; a bare Request's field 2 is its
 * method name. The method names are never a valid encoding of a Request, so this tells them apart.
 */
function isBareV2(data: Uint8Array): boolean {
  const r = protobuf.Reader.create(data);
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === 2 && (tag & 7) === 2) return V2_METHODS.has(new TextDecoder().decode(r.bytes()));
      r.skipType(tag & 7);
    }
  } catch {
    return false;
  }
  return false;
}

/** etcd's membership.Member JSON (a conf change's context). */
export interface EtcdMemberJson {
  id: bigint;
  peerURLs: string[];
  isLearner: boolean;
  name: string;
  clientURLs: string[];
  isPromote: boolean;
}

export function parseEtcdMemberJson(context: Uint8Array | undefined, where: string): EtcdMemberJson {
  const text = new TextDecoder().decode(context ?? new Uint8Array(0));
  let root;
  try {
    root = parseWhole(text);
  } catch (err) {
    throw new Error(`${where}: the conf change's context is not etcd's member JSON (${(err as Error).message})`);
  }
  if (root.t !== "object") throw new Error(`${where}: the conf change's context is not a JSON object`);
  const m: EtcdMemberJson = { id: 0n, peerURLs: [], isLearner: false, name: "", clientURLs: [], isPromote: false };
  for (const [key, n] of root.entries) {
    const strings = () => (n.t === "array" ? n.items.flatMap((i) => (i.t === "string" ? [i.value] : [])) : []);
    if (key === "id" && n.t === "number") m.id = BigInt(n.raw);
    else if (key === "peerURLs") m.peerURLs = strings();
    else if (key === "clientURLs") m.clientURLs = strings();
    else if (key === "name" && n.t === "string") m.name = n.value;
    else if (key === "isLearner") m.isLearner = n.t === "bool" && n.value;
    else if (key === "isPromote") m.isPromote = n.t === "bool" && n.value;
  }
  return m;
}

/** A v2 path /0/members/<id>/attributes (etcd 3.4's publish of a member's name and client URLs). */
export function memberAttributesPath(path: string): bigint | undefined {
  const m = /^\/0\/members\/([0-9a-f]{1,16})\/attributes$/.exec(path);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** Whether a v2 request changes keys of the v2 key space (/1/…), which etcd-ts does not have. */
export function writesV2Keys(req: etcdserverpb.Request): boolean {
  return (req.Method === "PUT" || req.Method === "POST" || req.Method === "DELETE") && (req.Path === "/1" || req.Path.startsWith("/1/"));
}
