/**
 * `etcdctl lease grant|revoke|timetolive|list|keep-alive`, with etcdctl's printers. Its json and
 * protobuf output come from clientv3's wrapper structs, not the RPC messages: json promotes the
 * header's fields (embedded *ResponseHeader) beside ID/TTL…, and protobuf marshals just the header
 * (the only part with a Marshal method) — or fails, for revoke, whose type has none.
 */
import { type ResponseHeader, rpc } from "../../client/index.ts";
import { EtcdError, Errors, GrpcCode } from "../../pkg/errors.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { type Command, flagBool } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, describeError, ExitCode } from "../errors.ts";
import { fieldsHeader } from "../output/fields.ts";
import { goQuoteBytes } from "../output/go-quote.ts";
import { type GoField, marshalMessage, marshalStruct } from "../output/go-struct-json.ts";
import { goWire } from "../output/kv.ts";
import { unsupportedFormat } from "../output/unsupported.ts";
import { parseInt64 } from "./strconv.ts";

const badArgs = (message: string) => new CliError(ExitCode.BadArgs, message);

/** Go's %016x of an int64 lease id (a negative id keeps its sign inside the width). */
export function leaseHex(id: bigint): string {
  return id < 0n ? "-" + (-id).toString(16).padStart(15, "0") : id.toString(16).padStart(16, "0");
}

/** etcdctl's leaseFromArgs: the id in hex, as strconv.ParseInt(arg, 16, 64). */
export function leaseFromArg(arg: string): bigint {
  try {
    return parseInt64(arg, 16);
  } catch (e) {
    throw badArgs(`bad lease ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

function header(h: etcdserverpb.IResponseHeader | null | undefined): ResponseHeader {
  return { clusterId: h?.clusterId ?? 0n, memberId: h?.memberId ?? 0n, revision: h?.revision ?? 0n, raftTerm: h?.raftTerm ?? 0n };
}

/** The fields of an embedded *pb.ResponseHeader as encoding/json promotes them (each omitempty). */
function promotedHeader(h: ResponseHeader): GoField[] {
  return [
    { name: "cluster_id", json: String(h.clusterId), omit: h.clusterId === 0n },
    { name: "member_id", json: String(h.memberId), omit: h.memberId === 0n },
    { name: "revision", json: String(h.revision), omit: h.revision === 0n },
    { name: "raft_term", json: String(h.raftTerm), omit: h.raftTerm === 0n },
  ];
}

/** What `-w protobuf` prints for clientv3's lease responses: the embedded header, marshalled. */
function headerBytes(h: ResponseHeader): Uint8Array {
  return etcdserverpb.ResponseHeader.encode(goWire("etcdserverpb.ResponseHeader", { ...h }) as etcdserverpb.IResponseHeader).finish();
}

/** gogo's compact text form of a header (its String()), as `%v` prints it. */
function headerText(h: ResponseHeader): string {
  const parts: [string, bigint][] = [["cluster_id", h.clusterId], ["member_id", h.memberId], ["revision", h.revision], ["raft_term", h.raftTerm]];
  return parts.filter(([, v]) => v !== 0n).map(([k, v]) => `${k}:${v} `).join("");
}

/**
 * Prints one response in the chosen format. `simple` is the simple printer's text; `fields` the
 * lines after the header; `json` the fields after the promoted header.
 */
function print(ctx: Ctx, h: ResponseHeader, p: { simple: string; fields: string; json: GoField[] }): void {
  switch (ctx.globals.writeOut) {
    case "simple":
      return ctx.out(p.simple);
    case "fields":
      return ctx.out(fieldsHeader(h) + p.fields);
    case "json":
      return ctx.out(marshalStruct([...promotedHeader(h), ...p.json]) + "\n");
    case "protobuf":
      return ctx.out(headerBytes(h));
    default:
      throw unsupportedFormat(ctx.globals.writeOut);
  }
}

function printKeepAlive(ctx: Ctx, res: etcdserverpb.LeaseKeepAliveResponse): void {
  print(ctx, header(res.header), {
    simple: `lease ${leaseHex(res.ID)} keepalived with TTL(${res.TTL})\n`,
    fields: `"ID" : ${res.ID}\n"TTL" : ${res.TTL}\n`,
    json: [
      { name: "ID", json: String(res.ID) },
      { name: "TTL", json: String(res.TTL) },
    ],
  });
}

const grantCommand: Command = {
  name: "grant",
  usage: "grant <ttl>",
  short: "Creates leases",
  async run(ctx, args) {
    if (args.length !== 1) throw badArgs("lease grant command needs TTL argument");
    let ttl: bigint;
    try {
      ttl = parseInt64(args[0], 10);
    } catch (e) {
      throw badArgs(`bad TTL (${(e as Error).message})`);
    }
    let res: etcdserverpb.LeaseGrantResponse;
    try {
      res = await ctx.client().call(rpc.leaseGrant, { TTL: ttl }, ctx.requestOpts());
    } catch (err) {
      throw new CliError(ExitCode.Error, `failed to grant lease (${describeError(err)})`);
    }
    print(ctx, header(res.header), {
      simple: `lease ${leaseHex(res.ID)} granted with TTL(${res.TTL}s)\n`,
      fields: `"ID" : ${res.ID}\n"TTL" : ${res.TTL}\n`,
      json: [
        { name: "ID", json: String(res.ID) },
        { name: "TTL", json: String(res.TTL) },
        { name: "Error", json: JSON.stringify(res.error ?? "") },
      ],
    });
  },
};

const revokeCommand: Command = {
  name: "revoke",
  usage: "revoke <leaseID>",
  short: "Revokes leases",
  async run(ctx, args) {
    if (args.length !== 1) throw badArgs("lease revoke command needs 1 argument");
    const id = leaseFromArg(args[0]);
    let res: etcdserverpb.LeaseRevokeResponse;
    try {
      res = await ctx.client().call(rpc.leaseRevoke, { ID: id }, ctx.requestOpts());
    } catch (err) {
      throw new CliError(ExitCode.Error, `failed to revoke lease (${describeError(err)})`);
    }
    const h = header(res.header);
    switch (ctx.globals.writeOut) {
      case "simple":
        return ctx.out(`lease ${leaseHex(id)} revoked\n`);
      case "fields":
        return ctx.out(fieldsHeader(h));
      case "json":
        return ctx.out(marshalMessage("etcdserverpb.LeaseRevokeResponse", res as unknown as Record<string, unknown>) + "\n");
      case "protobuf":
        // clientv3.LeaseRevokeResponse is a defined type without pb's methods: etcdctl cannot marshal it.
        throw new CliError(ExitCode.BadFeature, `marshal unsupported for type clientv3.LeaseRevokeResponse ({${headerText(h)}})`);
      default:
        throw unsupportedFormat(ctx.globals.writeOut);
    }
  },
};

const timeToLiveCommand: Command = {
  name: "timetolive",
  usage: "timetolive <leaseID> [options]",
  short: "Get lease information",
  flags: [{ name: "keys", type: "bool", usage: "Get keys attached to this lease" }],
  async run(ctx, args, flags) {
    if (args.length !== 1) throw badArgs("lease timetolive command needs lease ID as argument");
    const withKeys = flagBool(flags, "keys");
    const id = leaseFromArg(args[0]);
    let res: etcdserverpb.LeaseTimeToLiveResponse;
    try {
      res = await ctx.client().call(rpc.leaseTimeToLive, { ID: id, keys: withKeys }, ctx.requestOpts());
    } catch (err) {
      throw new CliError(ExitCode.BadConnection, describeError(err));
    }
    const keys = res.keys.map((k) => Buffer.from(k));
    let simple: string;
    if (res.grantedTTL === 0n && res.TTL === -1n) {
      simple = `lease ${leaseHex(res.ID)} already expired\n`;
    } else {
      simple = `lease ${leaseHex(res.ID)} granted with TTL(${res.grantedTTL}s), remaining(${res.TTL}s)`;
      // Go's %v of a []string: the strings as they are, space-separated, in brackets.
      if (withKeys) simple += `, attached keys([${keys.map((k) => k.toString("utf8")).join(" ")}])`;
      simple += "\n";
    }
    print(ctx, header(res.header), {
      simple,
      fields: `"ID" : ${res.ID}\n"TTL" : ${res.TTL}\n"GrantedTTL" : ${res.grantedTTL}\n` + keys.map((k) => `"Key" : ${goQuoteBytes(k)}\n`).join(""),
      json: [
        { name: "id", json: String(res.ID) },
        { name: "ttl", json: String(res.TTL) },
        { name: "granted-ttl", json: String(res.grantedTTL) },
        { name: "keys", json: keys.length ? `[${keys.map((k) => `"${k.toString("base64")}"`).join(",")}]` : "null" },
      ],
    });
  },
};

const listCommand: Command = {
  name: "list",
  usage: "list",
  short: "List all active leases",
  async run(ctx) {
    let res: etcdserverpb.LeaseLeasesResponse;
    try {
      res = await ctx.client().call(rpc.leaseLeases, {}, ctx.requestOpts());
    } catch (err) {
      throw new CliError(ExitCode.BadConnection, describeError(err));
    }
    const ids = res.leases.map((l) => l.ID ?? 0n);
    print(ctx, header(res.header), {
      simple: `found ${ids.length} leases\n` + ids.map((id) => leaseHex(id) + "\n").join(""),
      fields: ids.map((id) => `"ID" : ${id}\n`).join(""),
      json: [{ name: "leases", json: `[${ids.map((id) => `{"id":${id}}`).join(",")}]` }],
    });
  },
};

/** clientv3's KeepAliveOnce: one request on a LeaseKeepAlive stream; a lease that is gone is an error. */
async function keepAliveOnce(ctx: Ctx, id: bigint, timeoutMs?: number): Promise<etcdserverpb.LeaseKeepAliveResponse> {
  const opts = timeoutMs === undefined ? {} : { timeoutMs };
  for await (const res of ctx.client().serverStream(rpc.leaseKeepAlive, { ID: id }, opts)) {
    if (res.TTL <= 0n) throw Errors.leaseNotFound;
    return res;
  }
  throw new EtcdError(GrpcCode.Unavailable, "etcdclient: lease keep-alive stream ended without a response");
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long a failed refresh waits before the next attempt. */
const KEEPALIVE_RETRY_MS = 500;

const keepAliveCommand: Command = {
  name: "keep-alive",
  usage: "keep-alive [options] <leaseID>",
  short: "Keeps leases alive (renew)",
  flags: [{ name: "once", type: "bool", usage: "Resets the keep-alive time to its original value and exits immediately" }],
  async run(ctx, args, flags) {
    if (args.length !== 1) throw badArgs("lease keep-alive command needs lease ID as argument");
    const id = leaseFromArg(args[0]);
    if (flagBool(flags, "once")) {
      let res: etcdserverpb.LeaseKeepAliveResponse;
      try {
        res = await keepAliveOnce(ctx, id, ctx.globals.commandTimeoutMs);
      } catch (err) {
        throw new CliError(ExitCode.BadConnection, describeError(err));
      }
      return printKeepAlive(ctx, res);
    }
    // As clientv3's KeepAlive: refresh at a third of the TTL, print every answer, retry failures,
    // and stop once the server says the lease is gone or no refresh succeeded within its TTL.
    let deadline = Date.now() + 5000;
    for (;;) {
      let res: etcdserverpb.LeaseKeepAliveResponse;
      try {
        res = await keepAliveOnce(ctx, id, Math.max(1000, deadline - Date.now()));
      } catch (err) {
        if (err === Errors.leaseNotFound || (err instanceof EtcdError && err.code === GrpcCode.NotFound)) break;
        if (Date.now() >= deadline) break;
        await sleep(KEEPALIVE_RETRY_MS);
        continue;
      }
      printKeepAlive(ctx, res);
      const ttlMs = Number(res.TTL) * 1000;
      deadline = Date.now() + ttlMs;
      await sleep(Math.max(ttlMs / 3, 100));
    }
    if (ctx.globals.writeOut === "simple") ctx.out(`lease ${leaseHex(id)} expired or revoked.\n`);
  },
};

export const leaseCommand: Command = {
  name: "lease",
  usage: "lease <subcommand>",
  short: "Lease related commands",
  subcommands: [grantCommand, revokeCommand, timeToLiveCommand, listCommand, keepAliveCommand],
};
