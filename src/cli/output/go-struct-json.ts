/**
 * Go's encoding/json view of etcd's generated message structs, which is what `etcdctl -w json`
 * prints (json.Marshal, not jsonpb): fields under their proto names in declaration order, zero values
 * left out (omitempty), 64-bit integers as bare numbers, bytes in base64, enums as numbers, and a
 * oneof as a field named after the group ("Response") holding an object with the chosen member under
 * its Go field name ("ResponseRange").
 */
import { base64Encode, quoteJson } from "../../pkg/go-json.ts";
import { MESSAGES } from "../../proto/schema.gen.ts";
import type { FieldSchema } from "../../proto/schema.ts";

type Message = Record<string, unknown>;

const INT_TYPES = new Set(["int64", "uint64", "int32", "uint32", "sint64", "sint32", "fixed64", "fixed32", "sfixed64", "sfixed32"]);

/** protoc-gen-gogo's Go name of a oneof group: CamelCase of its proto name. */
function goOneofName(group: string): string {
  return group.replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());
}

function isZero(field: FieldSchema, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (field.repeated) return (v as unknown[]).length === 0;
  if (field.kind === "message") return false;
  if (field.type === "bytes") return (v as Uint8Array).length === 0;
  if (field.type === "string") return v === "";
  if (field.type === "bool") return v === false;
  return v === 0 || v === 0n;
}

function scalar(field: FieldSchema, v: unknown): string {
  if (field.kind === "message") return marshalMessage(field.type, v as Message);
  if (field.type === "bytes") return `"${base64Encode(v as Uint8Array)}"`;
  if (field.type === "string") return quoteJson(v as string);
  if (field.type === "bool") return v ? "true" : "false";
  if (field.kind === "enum" || INT_TYPES.has(field.type)) return String(v);
  if (field.type === "double" || field.type === "float") return String(v);
  throw new Error(`go-struct-json: no encoding for ${field.type}`);
}

function value(field: FieldSchema, v: unknown): string {
  if (field.repeated) {
    // A []byte field repeated is [][]byte: each element in base64; nil messages print as null.
    return `[${(v as unknown[]).map((e) => (e === null || e === undefined ? "null" : scalar(field, e))).join(",")}]`;
  }
  return scalar(field, v);
}

/** json.Marshal of the Go struct for message `type` (a full proto name, e.g. "etcdserverpb.RangeResponse"). */
export function marshalMessage(type: string, msg: Message | null | undefined): string {
  if (msg === null || msg === undefined) return "null";
  const fields = MESSAGES[type];
  if (!fields) throw new Error(`go-struct-json: unknown message ${type}`);
  const parts: string[] = [];
  const groupsDone = new Set<string>();
  for (const f of fields) {
    if (f.oneof) {
      if (groupsDone.has(f.oneof)) continue;
      groupsDone.add(f.oneof);
      const chosen = fields.find((g) => g.oneof === f.oneof && msg[g.prop] !== undefined && msg[g.prop] !== null);
      // The interface field has no json tag and no omitempty: an unset oneof is null. The wrapper
      // struct's one field has no json tag either: Go's field name ("ResponseRange").
      const inner = chosen ? `{${quoteJson(goOneofName(chosen.name))}:${value(chosen, msg[chosen.prop])}}` : "null";
      parts.push(`${quoteJson(goOneofName(f.oneof))}:${inner}`);
      continue;
    }
    const v = msg[f.prop];
    if (isZero(f, v)) continue;
    parts.push(`${quoteJson(f.name)}:${value(f, v)}`);
  }
  return `{${parts.join(",")}}`;
}

/** One Go struct field for hand-built objects (clientv3's wrapper types): name, JSON text, omitempty. */
export interface GoField {
  name: string;
  json: string;
  omit?: boolean;
}

/** A Go struct written field by field, for the types etcdctl prints that are not proto messages. */
export function marshalStruct(fields: GoField[]): string {
  return `{${fields.filter((f) => !f.omit).map((f) => `${quoteJson(f.name)}:${f.json}`).join(",")}}`;
}

export { quoteJson };
