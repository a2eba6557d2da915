import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { startMember, startRealEtcd, cleanup, type Member } from "./harness.ts";

function call(c: grpc.Client, path: string, req: any, reqT: any, resT: any, opts: grpc.CallOptions = {}): Promise<any> {
  return new Promise((res) => {
    c.makeUnaryRequest(path, (m: any) => Buffer.from(reqT.encode(m).finish()), (b: Buffer) => resT.decode(b), req, new grpc.Metadata(), opts,
      (err, r) => res(err ? { code: err.code, details: err.details } : r));
  });
}
async function probe(m: Member, name: string) {
  const c = new grpc.Client(m.endpoint, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1 });
  const P = etcdserverpb.PutRequest, PR = etcdserverpb.PutResponse;
  const put = (k: string, n: number) => call(c, "/etcdserverpb.KV/Put", { key: Buffer.from(k), value: Buffer.alloc(n, 1) }, P, PR);
  console.log(name, "small", await put("a", 3));
  console.log(name, "1.6MiB", await put("b", Math.floor(1.6 * 1024 * 1024)));
  console.log(name, "just under", await put("b", 1572864 - 100));
  console.log(name, "1.5MiB-20", await put("b", 1572864 - 20));
  console.log(name, "1.5MiB", await put("b", 1572864));
  console.log(name, "3MiB", await put("c", 3 * 1024 * 1024));
  console.log(name, "after", await put("a", 3));
  const raw = await new Promise((res) => c.makeUnaryRequest("/etcdserverpb.KV/Put", (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff, 0xff]), new grpc.Metadata(), {}, (e, r) => res(e ? { code: e.code, details: e.details } : r)));
  console.log(name, "malformed", raw);
  console.log(name, "empty key", await call(c, "/etcdserverpb.KV/Put", { key: Buffer.alloc(0) }, P, PR));
  console.log(name, "nope", await call(c, "/etcdserverpb.KV/Nope", {}, P, PR));
  console.log(name, "nosvc", await call(c, "/foo.Bar/Nope", {}, P, PR));
  console.log(name, "lease put", await call(c, "/etcdserverpb.KV/Put", { key: Buffer.from("l"), lease: 12345n }, P, PR));
  console.log(name, "range future", await call(c, "/etcdserverpb.KV/Range", { key: Buffer.from("a"), revision: 99999n }, etcdserverpb.RangeRequest, etcdserverpb.RangeResponse));
  const ops = Array.from({ length: 129 }, (_, i) => ({ requestPut: { key: Buffer.from("t" + i) } }));
  console.log(name, "129 ops", await call(c, "/etcdserverpb.KV/Txn", { success: ops }, etcdserverpb.TxnRequest, etcdserverpb.TxnResponse));
  console.log(name, "dup", await call(c, "/etcdserverpb.KV/Txn", { success: [{ requestPut: { key: Buffer.from("x") } }, { requestPut: { key: Buffer.from("x") } }] }, etcdserverpb.TxnRequest, etcdserverpb.TxnResponse));
  console.log(name, "leasegrant", await call(c, "/etcdserverpb.Lease/LeaseGrant", { TTL: 5n }, etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse));
  const h = (await call(c, "/etcdserverpb.KV/Range", { key: Buffer.from("a") }, etcdserverpb.RangeRequest, etcdserverpb.RangeResponse)).header;
  console.log(name, "header", h);
  c.close();
}
const ours = await startMember();
try { await probe(ours, "ours"); } finally { await ours.stop(); cleanup(ours); }
const real = await startRealEtcd();
try { await probe(real, "real"); } finally { await real.stop(); cleanup(real); }
