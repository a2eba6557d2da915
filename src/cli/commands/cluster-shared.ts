/**
 * What the cluster and maintenance commands share: member ids in hex (in and out), the endpoints
 * of `--cluster`, Go's Duration.String for timings, and the printing of a response as JSON or
 * protobuf bytes.
 */
import { type Method, type ResponseHeader, rpc, TransportError } from "../../client/index.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import type { Ctx } from "../context.ts";
import { CliError, describeError, ExitCode } from "../errors.ts";
import { goQuote } from "../output/go-quote.ts";
import { marshalMessage } from "../output/go-struct-json.ts";

const UINT64_MAX = (1n << 64n) - 1n;

/** Go's %x of a uint64: lower-case hex, no padding. */
export function hexId(id: bigint | number): string {
  return BigInt(id).toString(16);
}

/** Go's %16x: hex right-aligned in 16 columns (a space before a 15-digit id). */
export function hexId16(id: bigint | number): string {
  return hexId(id).padStart(16, " ");
}

/**
 * strconv.ParseUint(text, 16, 64), with its error text: no sign, no 0x prefix, no underscores;
 * digits are read left to right, so whichever fault comes first is the one reported.
 */
export function parseHexId(text: string): bigint {
  const fail = (why: string) => new Error(`strconv.ParseUint: parsing ${goQuote(text)}: ${why}`);
  if (text === "") throw fail("invalid syntax");
  let v = 0n;
  for (const c of text) {
    const d = /^[0-9a-fA-F]$/.test(c) ? BigInt(parseInt(c, 16)) : -1n;
    if (d < 0n) throw fail("invalid syntax");
    v = v * 16n + d;
    if (v > UINT64_MAX) throw fail("value out of range");
  }
  return v;
}

/** A member id argument, as the member commands read it (a bad one exits 128 with etcdctl's words). */
export function memberIdArg(args: readonly string[]): bigint {
  if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "member ID is not provided");
  try {
    return parseHexId(args[0]);
  } catch (e) {
    throw new CliError(ExitCode.BadArgs, `bad member ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

/** The endpoints to visit: --endpoints, or with --cluster every client URL in the member list. */
export async function endpointsFromCluster(ctx: Ctx, cluster: boolean): Promise<string[]> {
  if (!cluster) return ctx.globals.endpoints;
  try {
    const res = await ctx.client().call(rpc.memberList, { linearizable: true }, ctx.requestOpts());
    return res.members.flatMap((m) => memberInfo(m).clientURLs);
  } catch (e) {
    throw new CliError(ExitCode.Error, `failed to fetch endpoints from etcd cluster member list: ${describeError(e)}`);
  }
}

/**
 * What etcdctl says when asking one endpoint failed. clientv3 keeps redialling an endpoint it
 * cannot reach until the command's deadline, so an unreachable endpoint reads "context deadline
 * exceeded" there; our client gives up at once, and we report it in etcdctl's words.
 */
export function endpointError(e: unknown): string {
  if (e instanceof TransportError && !e.sent) return "context deadline exceeded";
  return describeError(e);
}

/** Go's time.Duration.String() of a nanosecond count: "951ns", "1.2µs", "4.951471ms", "5.000856812s", "1m2.5s". */
export function goDurationString(ns: bigint): string {
  if (ns === 0n) return "0s";
  const neg = ns < 0n;
  const u = neg ? -ns : ns;
  const sign = neg ? "-" : "";
  const frac = (v: bigint, unit: bigint) => {
    const whole = v / unit;
    const rest = v % unit;
    if (rest === 0n) return `${whole}`;
    const digits = unit.toString().length - 1;
    return `${whole}.${rest.toString().padStart(digits, "0").replace(/0+$/, "")}`;
  };
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${frac(u, 1000n)}µs`;
  if (u < 1_000_000_000n) return `${sign}${frac(u, 1_000_000n)}ms`;
  const h = u / 3_600_000_000_000n;
  const m = (u / 60_000_000_000n) % 60n;
  const s = u % 60_000_000_000n;
  return `${sign}${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${frac(s, 1_000_000_000n)}s`;
}

/** A member of a decoded response, with every field present. */
export interface MemberInfo {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export function memberInfo(m: etcdserverpb.IMember): MemberInfo {
  return {
    id: BigInt(m.ID ?? 0),
    name: m.name ?? "",
    peerURLs: (m.peerURLs ?? []).map(String),
    clientURLs: (m.clientURLs ?? []).map(String),
    isLearner: !!m.isLearner,
  };
}

/** A decoded response header (absent in some answers, as clientv3's merged AlarmDisarm) as fieldsHeader takes it. */
export function headerOf(h: etcdserverpb.IResponseHeader | null | undefined): ResponseHeader {
  return {
    clusterId: BigInt(h?.clusterId ?? 0),
    memberId: BigInt(h?.memberId ?? 0),
    revision: BigInt(h?.revision ?? 0),
    raftTerm: BigInt(h?.raftTerm ?? 0),
  };
}

/** Writes `msg` as etcdctl's json printer does (json.Marshal of the Go struct) plus a newline. */
export function printJson(ctx: Ctx, type: string, msg: unknown): void {
  ctx.out(marshalMessage(type, msg as Record<string, unknown>) + "\n");
}

/** Writes `msg` as etcdctl's protobuf printer does: the encoded message, no newline. */
export function printProtobuf<Req, Res>(ctx: Ctx, m: Method<Req, Res>, msg: Res): void {
  ctx.out(m.response.encode(msg).finish());
}
