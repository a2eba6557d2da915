/**
 * etcd's v2 membership read API: GET /v2/members and /v2/members/leader, in the v2 JSON etcdctl's v2
 * mode reads (`ETCDCTL_API=2 etcdctl member list`, `cluster-health`). Served from the gRPC handler
 * table (MemberList, Status). There is no v2 key space, and membership changes go through v3.
 */
import type { Context, Hono } from "hono";
import { quoteJson } from "../../pkg/go-json.ts";
import { methodInfo, throughWire, type HandlerTable } from "./gateway/handlers.ts";

interface V2Member {
  ID: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

async function unary(table: HandlerTable, path: string, signal: AbortSignal): Promise<any> {
  const info = methodInfo(path);
  const h = table[path];
  if (h?.kind !== "unary") throw new Error(`${path} is not served`);
  return throughWire(info.response, await h.handle(info.request.decode(new Uint8Array(0)), { signal, headers: Object.create(null) }));
}

/** A member as etcd's v2 API writes it (httptypes.Member): hex id, lists always present. */
function memberJson(m: V2Member): string {
  const list = (xs: string[]) => `[${xs.map(quoteJson).join(",")}]`;
  return `{"id":${quoteJson(m.ID.toString(16))},"name":${quoteJson(m.name ?? "")},"peerURLs":${list(m.peerURLs ?? [])},"clientURLs":${list(m.clientURLs ?? [])}}`;
}

function v2Error(status: number, message: string, clusterId?: string): Response {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (clusterId) headers["x-etcd-cluster-id"] = clusterId;
  return new Response(`{"message":${quoteJson(message)}}`, { status, headers });
}

export function registerV2Members(app: Hono, table: HandlerTable): void {
  const handle = async (c: Context, which: "list" | "leader" | "other") => {
    let list;
    try {
      list = await unary(table, "/etcdserverpb.Cluster/MemberList", c.req.raw.signal);
    } catch (err) {
      return v2Error(500, (err as Error).message);
    }
    const clusterId = (list.header?.clusterId ?? 0n).toString(16);
    // etcd's cluster.Members() is sorted by id.
    const members = [...(list.members as V2Member[])].sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
    const headers = { "content-type": "application/json", "x-etcd-cluster-id": clusterId };
    if (which === "other") return v2Error(404, "Not found", clusterId);
    if (which === "list") return new Response(`{"members":[${members.map(memberJson).join(",")}]}\n`, { headers });
    const status = await unary(table, "/etcdserverpb.Maintenance/Status", c.req.raw.signal).catch(() => null);
    const leader = members.find((m) => status && m.ID === status.leader && status.leader !== 0n);
    if (!leader) return v2Error(503, "During election", clusterId);
    return new Response(`${memberJson(leader)}\n`, { headers });
  };
  app.get("/v2/members", (c) => handle(c, "list"));
  app.get("/v2/members/leader", (c) => handle(c, "leader"));
  app.get("/v2/members/*", (c) => handle(c, "other"));
  // etcd also adds, removes and updates members here; etcd-ts does that through v3 only.
  for (const path of ["/v2/members", "/v2/members/*"]) {
    app.all(path, (c) => c.body("Method Not Allowed\n", 405, { allow: "GET", "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" }));
  }
}
