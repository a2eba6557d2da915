/**
 * The JSON mapping of etcd 3.4's grpc-gateway, in one place: golang/protobuf's jsonpb as the gateway
 * configures it. Responses: OrigName (proto field names), EmitDefaults off (zero scalars, empty lists
 * and absent messages left out), int64/uint64 as decimal strings, bytes as padded base64, enums by
 * name. Requests: proto or lowerCamelCase names (camel wins when both), unknown fields ignored, null
 * as absent, 64/32-bit integers as numbers or strings, enums by name or number — and Go's error texts
 * when a value does not fit.
 */
import { base64DecodeGo, base64Encode, goQuote, GoJsonError, kindOf, parseWhole, quoteJson, type JsonNode } from "../../../pkg/go-json.ts";
import type { FieldSchema } from "../../../proto/schema.ts";
import { ENUMS, MESSAGES } from "../../../proto/schema.gen.ts";

function fieldsOf(type: string): readonly FieldSchema[] {
  const fields = MESSAGES[type];
  if (!fields) throw new Error(`the gateway has no schema for ${type}`);
  return fields;
}

// ------------------------------------------------------------------------------------------ requests

/** Go's type names for the integer kinds, as encoding/json quotes them. */
const INT_GO_TYPE: Record<string, string> = {
  int64: "int64", sint64: "int64", sfixed64: "int64",
  uint64: "uint64", fixed64: "uint64",
  int32: "int32", sint32: "int32", sfixed32: "int32",
  uint32: "uint32", fixed32: "uint32",
};

const cannot = (what: string, goType: string) => new GoJsonError(`json: cannot unmarshal ${what} into Go value of type ${goType}`);

/** strconv.ParseInt/ParseUint of a JSON number literal into a Go integer type (null: it does not fit). */
function parseInteger(raw: string, goType: string): bigint | null {
  if (!/^-?\d+$/.test(raw)) return null;
  const signed = !goType.startsWith("u");
  if (!signed && raw.startsWith("-")) return null; // ParseUint refuses any sign, "-0" too
  const bits = BigInt(goType.replace(/\D/g, ""));
  const v = BigInt(raw);
  const [min, max] = signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
  return v >= min && v <= max ? v : null;
}

/** json.Unmarshal of a node into a Go integer (undefined: null, which leaves the field unset). */
function integerFrom(n: JsonNode, goType: string): bigint | undefined {
  if (n.t === "null") return undefined;
  if (n.t !== "number") throw cannot(kindOf(n), goType);
  const v = parseInteger(n.raw, goType);
  if (v === null) throw cannot(`number ${n.raw}`, goType);
  return v;
}

function scalarFrom(f: FieldSchema, n: JsonNode): unknown {
  const goInt = INT_GO_TYPE[f.type];
  if (goInt) {
    // jsonpb drops the quotes of a quoted number (no unescaping) and parses what is left as JSON.
    const v = integerFrom(n.t === "string" ? parseWhole(n.raw) : n, goInt);
    if (v === undefined) return undefined;
    return f.type.endsWith("64") ? v : Number(v);
  }
  switch (f.type) {
    case "bool":
      if (n.t === "null") return undefined;
      if (n.t !== "bool") throw cannot(kindOf(n), "bool");
      return n.value;
    case "string":
      if (n.t === "null") return undefined;
      if (n.t !== "string") throw cannot(kindOf(n), "string");
      return n.value;
    case "bytes":
      if (n.t === "null") return undefined;
      if (n.t === "string") return base64DecodeGo(n.value);
      if (n.t === "array") {
        // encoding/json also takes []byte as an array of numbers.
        return Uint8Array.from(n.items, (item) => {
          const v = integerFrom(item, "uint8");
          return v === undefined ? 0 : Number(v);
        });
      }
      throw cannot(kindOf(n), "[]uint8");
    case "double":
    case "float":
      if (n.t === "null") return undefined;
      if (n.t === "string" && ["NaN", "Infinity", "-Infinity"].includes(n.raw)) return Number(n.raw);
      {
        const m = n.t === "string" ? parseWhole(n.raw) : n;
        if (m.t === "null") return undefined;
        if (m.t !== "number") throw cannot(kindOf(m), f.type === "double" ? "float64" : "float32");
        return Number(m.raw);
      }
    default:
      throw new Error(`unsupported scalar type ${f.type}`);
  }
}

function enumFrom(f: FieldSchema, n: JsonNode): number | undefined {
  const e = ENUMS[f.type];
  if (n.t === "string") {
    const v = Object.hasOwn(e.values, n.raw) ? e.values[n.raw] : undefined;
    if (v === undefined) throw new GoJsonError(`unknown value ${goQuote(n.raw)} for enum ${e.goName}`);
    return v;
  }
  if (n.t === "null") return undefined;
  if (n.t !== "number") throw cannot(kindOf(n), e.goName);
  const v = parseInteger(n.raw, "int32");
  if (v === null) throw cannot(`number ${n.raw}`, e.goName);
  return Number(v);
}

function elementFrom(f: FieldSchema, n: JsonNode): unknown {
  if (f.kind === "message") return n.t === "null" ? undefined : messageFromJson(f.type, n);
  if (f.kind === "enum") return enumFrom(f, n);
  return scalarFrom(f, n);
}

/**
 * jsonpb.Unmarshal (AllowUnknownFields) of one message: a plain object of protobufjs properties
 * (bigint for 64-bit integers, Uint8Array for bytes, numbers for enums), ready for Type.encode.
 * Throws GoJsonError with Go's message.
 */
export function messageFromJson(type: string, node: JsonNode): Record<string, unknown> {
  const fields = fieldsOf(type);
  const out: Record<string, unknown> = {};
  if (node.t === "null") return out;
  if (node.t !== "object") throw cannot(kindOf(node), "map[string]json.RawMessage");
  // Go reads the object into a map: the last of duplicate keys wins.
  const byName = new Map<string, JsonNode>();
  for (const [k, v] of node.entries) byName.set(k, v);
  const take = (f: FieldSchema): JsonNode | undefined => {
    const camel = byName.get(f.json);
    const orig = f.name !== f.json ? byName.get(f.name) : undefined;
    return camel ?? orig;
  };
  // Plain fields first in declaration order (the first error wins), then oneof members.
  for (const pass of [false, true]) {
    for (const f of fields) {
      if (!!f.oneof !== pass) continue;
      const n = take(f);
      if (n === undefined) continue;
      let v: unknown;
      if (f.repeated) {
        if (n.t === "null") continue;
        if (n.t !== "array") throw cannot(kindOf(n), "[]json.RawMessage");
        v = n.items.map((item) => elementFrom(f, item) ?? (f.kind === "message" ? {} : zeroOf(f)));
      } else {
        v = elementFrom(f, n);
        if (f.kind === "message" && v === undefined) continue;
      }
      if (v === undefined) continue;
      if (f.oneof) for (const other of fields) if (other.oneof === f.oneof) delete out[other.prop];
      out[f.prop] = v;
    }
  }
  return out;
}

function zeroOf(f: FieldSchema): unknown {
  if (f.kind === "enum") return 0;
  if (f.type === "bytes") return new Uint8Array(0);
  if (f.type === "string") return "";
  if (f.type === "bool") return false;
  return f.type.endsWith("64") ? 0n : 0;
}

// ----------------------------------------------------------------------------------------- responses

function isDefault(f: FieldSchema, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (f.repeated) return (v as unknown[]).length === 0;
  if (f.kind === "message") return false;
  if (f.type === "bytes") return (v as Uint8Array).length === 0;
  return v === 0 || v === 0n || v === false || v === "";
}

function valueToJson(f: FieldSchema, v: unknown): string {
  if (f.kind === "message") return messageToJson(f.type, v as object);
  if (f.kind === "enum") {
    const n = Number(v);
    const name = Object.keys(ENUMS[f.type].values).find((k) => ENUMS[f.type].values[k] === n);
    // Unknown numbers go out bare, as jsonpb writes them.
    return name === undefined ? String(n) : quoteJson(name);
  }
  switch (f.type) {
    case "bytes":
      return `"${base64Encode(v as Uint8Array)}"`;
    case "string":
      return quoteJson(v as string);
    case "bool":
      return v ? "true" : "false";
    case "double":
    case "float": {
      const x = Number(v);
      if (Number.isNaN(x)) return '"NaN"';
      if (!Number.isFinite(x)) return x > 0 ? '"Infinity"' : '"-Infinity"';
      return String(x);
    }
    default:
      // 64-bit integers are strings in proto3 JSON; 32-bit ones are numbers.
      return f.type.endsWith("64") ? `"${BigInt(v as bigint)}"` : String(Number(v));
  }
}

/**
 * jsonpb.Marshal (OrigName, EmitDefaults off) of a decoded message: fields in declaration order, a
 * oneof's chosen member where the oneof stands.
 */
export function messageToJson(type: string, msg: object): string {
  const parts: string[] = [];
  for (const f of fieldsOf(type)) {
    const v = (msg as Record<string, unknown>)[f.prop];
    if (isDefault(f, v)) continue;
    const value = f.repeated ? `[${(v as unknown[]).map((x) => valueToJson(f, x)).join(",")}]` : valueToJson(f, v);
    parts.push(`${quoteJson(f.name)}:${value}`);
  }
  return `{${parts.join(",")}}`;
}

// -------------------------------------------------------------------------------- gateway envelopes

/** Go's http.StatusText for the statuses the gateway uses. */
const STATUS_TEXT: Record<number, string> = {
  200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
  409: "Conflict", 412: "Precondition Failed", 429: "Too Many Requests", 500: "Internal Server Error",
  501: "Not Implemented", 503: "Service Unavailable", 504: "Gateway Timeout",
};

/** grpc-gateway's HTTPStatusFromCode. */
export function httpStatusFromCode(code: number): number {
  return [200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401][code] ?? 500;
}

/** The body of a failed call (runtime.DefaultHTTPError): {"error", "message", "code"}. */
export function errorBody(code: number, message: string): string {
  const q = quoteJson(message);
  return `{"error":${q},"message":${q}${code ? `,"code":${code}` : ""}}`;
}

/** One message of a streamed answer: {"result": …} (the caller adds the newline delimiter). */
export function streamResult(type: string, msg: object): string {
  return `{"result":${messageToJson(type, msg)}}`;
}

/** A stream's failure: {"error": {grpc_code, http_code, message, http_status}} (no delimiter after it). */
export function streamError(code: number, message: string): string {
  const http = httpStatusFromCode(code);
  const parts = [code ? `"grpc_code":${code}` : "", `"http_code":${http}`, message ? `"message":${quoteJson(message)}` : "", `"http_status":${quoteJson(STATUS_TEXT[http] ?? "")}`];
  return `{"error":{${parts.filter(Boolean).join(",")}}}`;
}
