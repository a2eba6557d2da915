import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { startMember, startRealEtcd, cleanup, type Member } from "./harness.ts";
async function probe(m: Member, name: string) {
  const c = new grpc.Client(m.endpoint, grpc.credentials.createInsecure());
  const put = (n: number) => new Promise<boolean>((res) => c.makeUnaryRequest("/etcdserverpb.KV/Put", (x: any) => Buffer.from(etcdserverpb.PutRequest.encode(x).finish()), (b: Buffer) => b, { key: Buffer.from("k"), value: Buffer.alloc(n, 1) }, new grpc.Metadata(), {}, (e) => res(!e)));
  let lo = 1572864 - 200, hi = 1572864; // lo ok, hi fails
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (await put(mid)) lo = mid; else hi = mid; }
  console.log(name, "max value accepted", lo, "limit-", 1572864 - lo);
  c.close();
}
for (const [s, n] of [[startMember, "ours"], [startRealEtcd, "real"]] as const) {
  const m = await s(); try { await probe(m, n); } finally { await m.stop(); cleanup(m); }
}
