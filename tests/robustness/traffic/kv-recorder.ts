// One traffic client's KV calls through our client library (src/client), each recorded as a KvCall:
// the request, when it was sent and answered, and what came back — ok, failed (certainly not
// applied) or unknown (may have been applied).
import { Client } from "../../../src/client/client.ts";
import { rpc } from "../../../src/client/rpc.ts";
import { definiteFailure, type KvCall, type KvRequest, type KvResponse } from "../history.ts";
import * as wire from "./wire.ts";

export interface RecorderOptions {
  client: number;
  /** Every member's endpoint; the client prefers `home` and fails over to the others in order. */
  endpoints: string[];
  home: number;
  /** The run's clock (ms). */
  now: () => number;
  /** Where every call goes, in completion order. */
  sink: KvCall[];
  timeoutMs: number;
}

export class KvRecorder {
  readonly #c: Client;
  readonly #o: RecorderOptions;

  constructor(o: RecorderOptions) {
    this.#o = o;
    const ordered = o.endpoints.map((_, j) => o.endpoints[(o.home + j) % o.endpoints.length]);
    // Short keep-alives: a paused member is noticed within the op timeout, not after 40 s.
    this.#c = new Client({ endpoints: ordered, dialTimeoutMs: 1000, requestTimeoutMs: o.timeoutMs, keepAliveTimeMs: 1000, keepAliveTimeoutMs: 1000 });
  }

  get client(): number {
    return this.#o.client;
  }

  /** Sends one request and records it; never throws for a server or network error. */
  async do(request: KvRequest): Promise<KvCall> {
    const { now, client, home } = this.#o;
    const call = now();
    let rec: KvCall;
    try {
      const { revision, response } = await this.#send(request);
      rec = { client, member: home, request, call, ret: now(), outcome: "ok", revision, response };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      // LeaseRevoke is one of clientv3's repeatable calls: an attempt cut off after it was applied
      // is sent again and then finds no lease. So that answer does not say the revoke did not happen.
      const retriedRevoke = request.kind === "leaseRevoke" && error.includes("requested lease not found");
      const outcome = definiteFailure(error) && !retriedRevoke ? "failed" : "unknown";
      rec = { client, member: home, request, call, ret: now(), outcome, error };
    }
    this.#o.sink.push(rec);
    return rec;
  }

  async #send(r: KvRequest): Promise<{ revision: number; response: KvResponse }> {
    const opts = { timeoutMs: this.#o.timeoutMs };
    switch (r.kind) {
      case "range": {
        const res = await this.#c.call(rpc.range, wire.rangeRequest(r), opts);
        return { revision: wire.headerRevision(res.header), response: wire.rangeResponse(res) };
      }
      case "put": {
        const res = await this.#c.call(rpc.put, wire.putRequest(r), opts);
        return { revision: wire.headerRevision(res.header), response: { kind: "put" } };
      }
      case "delete": {
        const res = await this.#c.call(rpc.deleteRange, wire.deleteRequest(r), opts);
        return { revision: wire.headerRevision(res.header), response: wire.deleteResponse(res) };
      }
      case "txn": {
        const res = await this.#c.call(rpc.txn, wire.txnRequest(r), opts);
        return { revision: wire.headerRevision(res.header), response: wire.txnResponse(res) };
      }
      case "leaseGrant": {
        const res = await this.#c.call(rpc.leaseGrant, { TTL: BigInt(r.ttl), ID: 0n }, opts);
        if (res.error) throw new Error(res.error);
        return { revision: wire.headerRevision(res.header), response: { kind: "leaseGrant", id: String(res.ID) } };
      }
      case "leaseRevoke": {
        const res = await this.#c.call(rpc.leaseRevoke, { ID: BigInt(r.id) }, opts);
        return { revision: wire.headerRevision(res.header), response: { kind: "leaseRevoke" } };
      }
      case "compact": {
        const res = await this.#c.call(rpc.compact, { revision: BigInt(r.revision), physical: false }, opts);
        return { revision: wire.headerRevision(res.header), response: { kind: "compact" } };
      }
      case "defragment": {
        const res = await this.#c.call(rpc.defragment, {}, opts);
        return { revision: wire.headerRevision(res.header), response: { kind: "defragment" } };
      }
    }
  }

  close(): void {
    this.#c.close();
  }
}
