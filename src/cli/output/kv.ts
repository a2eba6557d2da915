/**
 * How etcdctl shows the KV responses (get, put, del, txn, watch) in each -w format: simple (keys and
 * values as raw bytes, or \xNN with --hex), fields, json (Go's encoding/json of the response struct)
 * and protobuf (the response message, marshalled again the way Go does: zero fields left out).
 */
import { etcdserverpb, mvccpb } from "../../proto/etcd.js";
import { MESSAGES } from "../../proto/schema.gen.ts";
import type { Globals } from "../global.ts";
import { fieldsHeader, fieldsKv } from "./fields.ts";
import { marshalMessage, marshalStruct } from "./go-struct-json.ts";
import { unsupportedFormat } from "./unsupported.ts";

type Kv = mvccpb.IKeyValue;
type Header = etcdserverpb.IResponseHeader | null | undefined;
type Out = (text: string | Uint8Array) => void;

export interface KvPrintOptions {
  /** --print-value-only: values without their keys (simple format only). */
  valueOnly?: boolean;
}

const NL = Buffer.from("\n");

/** etcdctl's --hex: every byte as \xNN (lower-case hex digits). */
export function hexEscape(b: Uint8Array): string {
  let s = "";
  for (const byte of b) s += "\\x" + byte.toString(16).padStart(2, "0");
  return s;
}

function bytesOf(b: Uint8Array | null | undefined): Buffer {
  if (!b) return Buffer.alloc(0);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The simple format's key line and value line (the bytes as they are, so binary values survive). */
export function simpleKv(kv: Kv, hex: boolean, valueOnly = false): Buffer {
  const show = (b: Uint8Array | null | undefined) => (hex ? Buffer.from(hexEscape(bytesOf(b))) : bytesOf(b));
  const parts = valueOnly ? [show(kv.value), NL] : [show(kv.key), NL, show(kv.value), NL];
  return Buffer.concat(parts);
}

/** fields.ts wants the client's KeyValue; a decoded message carries the same properties. */
function asFieldsKv(kv: Kv) {
  return {
    key: bytesOf(kv.key),
    value: bytesOf(kv.value),
    createRevision: BigInt(kv.createRevision ?? 0n),
    modRevision: BigInt(kv.modRevision ?? 0n),
    version: BigInt(kv.version ?? 0n),
    lease: BigInt(kv.lease ?? 0n),
  };
}

function hdr(h: Header): string {
  return fieldsHeader({
    clusterId: BigInt(h?.clusterId ?? 0n),
    memberId: BigInt(h?.memberId ?? 0n),
    revision: BigInt(h?.revision ?? 0n),
    raftTerm: BigInt(h?.raftTerm ?? 0n),
  });
}

function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === 0n || v === "") return true;
  return v instanceof Uint8Array && v.length === 0;
}

/**
 * A copy of a decoded message with only what Go's Marshal writes: protobufjs would also write
 * fields that arrived holding their zero value, and Go never does.
 */
export function goWire(type: string, msg: Record<string, unknown>): Record<string, unknown> {
  const fields = MESSAGES[type];
  if (!fields) throw new Error(`kv printer: unknown message ${type}`);
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = msg[f.prop];
    if (f.repeated) {
      const list = (v as unknown[] | undefined) ?? [];
      if (list.length) out[f.prop] = f.kind === "message" ? list.map((e) => goWire(f.type, e as Record<string, unknown>)) : list;
    } else if (f.kind === "message") {
      if (v !== null && v !== undefined) out[f.prop] = goWire(f.type, v as Record<string, unknown>);
    } else if (!isZero(v)) {
      out[f.prop] = v;
    }
  }
  return out;
}

interface Encoder {
  encode(m: never): { finish(): Uint8Array };
}

function protobuf(out: Out, cls: Encoder, type: string, msg: object): void {
  out(cls.encode(goWire(type, msg as Record<string, unknown>) as never).finish());
}

function json(out: Out, type: string, msg: object): void {
  out(marshalMessage(type, msg as Record<string, unknown>) + "\n");
}

// ---- get ----

export function printRange(out: Out, g: Globals, r: etcdserverpb.IRangeResponse, opts: KvPrintOptions = {}): void {
  switch (g.writeOut) {
    case "simple":
      for (const kv of r.kvs ?? []) out(simpleKv(kv, g.hex, opts.valueOnly));
      return;
    case "fields":
      out(fieldsRange(r));
      return;
    case "json":
      return json(out, "etcdserverpb.RangeResponse", r);
    case "protobuf":
      return protobuf(out, etcdserverpb.RangeResponse, "etcdserverpb.RangeResponse", r);
    default:
      throw unsupportedFormat(g.writeOut);
  }
}

function fieldsRange(r: etcdserverpb.IRangeResponse): string {
  let s = hdr(r.header);
  for (const kv of r.kvs ?? []) s += fieldsKv("", asFieldsKv(kv));
  return s + `"More" : ${r.more ? "true" : "false"}\n"Count" : ${r.count ?? 0n}\n`;
}

// ---- put ----

export function printPut(out: Out, g: Globals, r: etcdserverpb.IPutResponse): void {
  switch (g.writeOut) {
    case "simple":
      out("OK\n");
      if (r.prevKv) out(simpleKv(r.prevKv, g.hex));
      return;
    case "fields":
      out(fieldsPut(r));
      return;
    case "json":
      return json(out, "etcdserverpb.PutResponse", r);
    case "protobuf":
      return protobuf(out, etcdserverpb.PutResponse, "etcdserverpb.PutResponse", r);
    default:
      throw unsupportedFormat(g.writeOut);
  }
}

function fieldsPut(r: etcdserverpb.IPutResponse): string {
  return hdr(r.header) + (r.prevKv ? fieldsKv("Prev", asFieldsKv(r.prevKv)) : "");
}

// ---- del ----

export function printDelete(out: Out, g: Globals, r: etcdserverpb.IDeleteRangeResponse): void {
  switch (g.writeOut) {
    case "simple":
      out(`${r.deleted ?? 0n}\n`);
      for (const kv of r.prevKvs ?? []) out(simpleKv(kv, g.hex));
      return;
    case "fields":
      out(fieldsDelete(r));
      return;
    case "json":
      return json(out, "etcdserverpb.DeleteRangeResponse", r);
    case "protobuf":
      return protobuf(out, etcdserverpb.DeleteRangeResponse, "etcdserverpb.DeleteRangeResponse", r);
    default:
      throw unsupportedFormat(g.writeOut);
  }
}

function fieldsDelete(r: etcdserverpb.IDeleteRangeResponse): string {
  let s = hdr(r.header) + `"Deleted" : ${r.deleted ?? 0n}\n`;
  for (const kv of r.prevKvs ?? []) s += fieldsKv("Prev", asFieldsKv(kv));
  return s;
}

// ---- txn ----

export function printTxn(out: Out, g: Globals, r: etcdserverpb.ITxnResponse): void {
  switch (g.writeOut) {
    case "simple":
      out(r.succeeded ? "SUCCESS\n" : "FAILURE\n");
      for (const op of r.responses ?? []) {
        out("\n");
        if (op.responseDeleteRange) printDelete(out, g, op.responseDeleteRange);
        else if (op.responsePut) printPut(out, g, op.responsePut);
        else if (op.responseRange) printRange(out, g, op.responseRange);
        // etcdctl has no simple form of a nested txn's response either.
        else out(`unexpected response ${JSON.stringify(op)}\n`);
      }
      return;
    case "fields": {
      let s = hdr(r.header) + `"Succeeded" : ${r.succeeded ? "true" : "false"}\n`;
      for (const op of r.responses ?? []) {
        if (op.responseDeleteRange) s += fieldsDelete(op.responseDeleteRange);
        else if (op.responsePut) s += fieldsPut(op.responsePut);
        else if (op.responseRange) s += fieldsRange(op.responseRange);
        else s += `"Unknown" : "nested txn"\n`;
      }
      out(s);
      return;
    }
    case "json":
      return json(out, "etcdserverpb.TxnResponse", r);
    case "protobuf":
      return protobuf(out, etcdserverpb.TxnResponse, "etcdserverpb.TxnResponse", r);
    default:
      throw unsupportedFormat(g.writeOut);
  }
}

// ---- watch ----

/**
 * One watch response as clientv3 hands it to etcdctl: the header, events, compact revision and the
 * created/canceled flags (the watch id, cancel reason and fragment flag are not part of it).
 */
export function printWatch(out: Out, g: Globals, r: etcdserverpb.IWatchResponse): void {
  const events = r.events ?? [];
  switch (g.writeOut) {
    case "simple":
      for (const e of events) {
        out(`${eventType(e)}\n`);
        if (e.prevKv) out(simpleKv(e.prevKv, g.hex));
        out(simpleKv(e.kv ?? {}, g.hex));
      }
      return;
    case "fields": {
      let s = hdr(r.header);
      for (const e of events) {
        s += `"Type" : ${eventType(e)}\n`;
        if (e.prevKv) s += fieldsKv("Prev", asFieldsKv(e.prevKv));
        s += fieldsKv("", asFieldsKv(e.kv ?? {}));
      }
      out(s);
      return;
    }
    case "json":
      // clientv3.WatchResponse has no json tags: Go's field names, every field written.
      out(
        marshalStruct([
          { name: "Header", json: marshalMessage("etcdserverpb.ResponseHeader", (r.header ?? {}) as Record<string, unknown>) },
          { name: "Events", json: `[${events.map((e) => marshalMessage("mvccpb.Event", e as Record<string, unknown>)).join(",")}]` },
          { name: "CompactRevision", json: String(r.compactRevision ?? 0n) },
          { name: "Canceled", json: r.canceled ? "true" : "false" },
          { name: "Created", json: r.created ? "true" : "false" },
        ]) + "\n",
      );
      return;
    case "protobuf":
      return protobuf(out, etcdserverpb.WatchResponse, "etcdserverpb.WatchResponse", {
        header: r.header ?? {},
        events,
        compactRevision: r.compactRevision,
        canceled: r.canceled,
        created: r.created,
      });
    default:
      throw unsupportedFormat(g.writeOut);
  }
}

/** mvccpb.Event_EventType's String(): PUT or DELETE. */
export function eventType(e: mvccpb.IEvent): string {
  return e.type === mvccpb.Event.EventType.DELETE ? "DELETE" : "PUT";
}
