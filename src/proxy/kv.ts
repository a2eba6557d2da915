// KV through the proxy (etcd's grpcproxy kvProxy): every call forwarded to the cluster with the
// client's failover and retry policy; serializable ranges answered from the range cache when they can
// be; keys under --namespace.
import { etcdserverpb } from "../proto/etcd.js";
import { rpc } from "../client/rpc.ts";
import type { Call, Handler } from "../server/grpc/grpc-server.ts";
import { cacheHits, cacheKeys, cacheMisses } from "./metrics.ts";
import type { Namespace } from "./namespace.ts";
import type { RangeCache } from "./range-cache.ts";
import { callOpts, type Upstream } from "./upstream.ts";

export interface KvDeps {
  upstream: Upstream;
  cache: RangeCache;
  namespace: Namespace | null;
}

export function kvHandlers({ upstream, cache, namespace: ns }: KvDeps): Record<string, Handler> {
  const forget = (key: Uint8Array | null | undefined, end: Uint8Array | null | undefined) => {
    cache.invalidate(key, end);
    cacheKeys.set(cache.size);
  };
  /** What a txn touched: compared keys (a txn may claim an outdated key changed) and written ones; ranges read are cached. */
  const afterTxn = (req: etcdserverpb.ITxnRequest, res: etcdserverpb.ITxnResponse) => {
    for (const c of req.compare ?? []) forget(c.key, c.rangeEnd);
    const ops = (res.succeeded ? req.success : req.failure) ?? [];
    const results = res.responses ?? [];
    for (let i = 0; i < results.length && i < ops.length; i++) {
      const op = ops[i];
      if (op.requestPut) forget(op.requestPut.key, null);
      else if (op.requestDeleteRange) forget(op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
      else if (op.requestRange && results[i].responseRange) cache.add(op.requestRange, results[i].responseRange!);
      else if (op.requestTxn) forgetAll(op.requestTxn, forget);
    }
    cacheKeys.set(cache.size);
  };

  return {
    "/etcdserverpb.KV/Range": {
      kind: "unary",
      async handle(req: etcdserverpb.RangeRequest, call: Call) {
        if (req.serializable) {
          // A compacted revision is an answer too (etcd counts it as a hit).
          let hit: etcdserverpb.IRangeResponse | undefined;
          try {
            hit = cache.get(req);
          } catch (err) {
            cacheHits.inc();
            throw err;
          }
          if (hit) {
            cacheHits.inc();
            return hit;
          }
          cacheMisses.inc();
        }
        const res = await upstream.unary(rpc.range, ns ? ns.range(req) : req, callOpts(call));
        const out = ns ? ns.rangeResponse(res) : res;
        cache.add(req, out);
        cacheKeys.set(cache.size);
        return out;
      },
    },
    "/etcdserverpb.KV/Put": {
      kind: "unary",
      async handle(req: etcdserverpb.PutRequest, call: Call) {
        forget(req.key, null);
        const res = await upstream.unary(rpc.put, ns ? ns.put(req) : req, callOpts(call));
        // Again after the write: a read that raced it may have filed the old value meanwhile.
        forget(req.key, null);
        return ns ? ns.putResponse(res) : res;
      },
    },
    "/etcdserverpb.KV/DeleteRange": {
      kind: "unary",
      async handle(req: etcdserverpb.DeleteRangeRequest, call: Call) {
        forget(req.key, req.rangeEnd);
        const res = await upstream.unary(rpc.deleteRange, ns ? ns.deleteRange(req) : req, callOpts(call));
        forget(req.key, req.rangeEnd);
        return ns ? ns.deleteRangeResponse(res) : res;
      },
    },
    "/etcdserverpb.KV/Txn": {
      kind: "unary",
      async handle(req: etcdserverpb.TxnRequest, call: Call) {
        forgetAll(req, forget);
        const res = await upstream.unary(rpc.txn, ns ? ns.txn(req) : req, callOpts(call));
        const out = ns ? ns.txnResponse(res) : res;
        afterTxn(req, out);
        return out;
      },
    },
    "/etcdserverpb.KV/Compact": {
      kind: "unary",
      async handle(req: etcdserverpb.CompactionRequest, call: Call) {
        const res = await upstream.unary(rpc.compact, req, callOpts(call));
        cache.compact(BigInt(req.revision ?? 0));
        return res;
      },
    },
  };
}

/** Every key a txn may write or compare, in both branches (before the answer says which ran). */
function forgetAll(req: etcdserverpb.ITxnRequest, forget: (k: Uint8Array | null | undefined, e: Uint8Array | null | undefined) => void): void {
  for (const c of req.compare ?? []) forget(c.key, c.rangeEnd);
  for (const op of [...(req.success ?? []), ...(req.failure ?? [])]) {
    if (op.requestPut) forget(op.requestPut.key, null);
    else if (op.requestDeleteRange) forget(op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
    else if (op.requestTxn) forgetAll(op.requestTxn, forget);
  }
}
