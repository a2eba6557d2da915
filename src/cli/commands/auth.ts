/**
 * `etcdctl auth enable|disable|status` (status as etcdctl 3.5), and how every auth command prints a
 * response: json and protobuf are the RPC message (printerRPC), fields the header plus a few lines
 * where etcdctl has a fields printer, table never.
 */
import { rpc } from "../../client/index.ts";
import { toHeader } from "../../client/kv.ts";
import { Errors } from "../../pkg/errors.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import type { Command } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { fieldsHeader } from "../output/fields.ts";
import { marshalMessage } from "../output/go-struct-json.ts";
import { goWire } from "../output/kv.ts";
import { unsupportedFormat } from "../output/unsupported.ts";

export const badArgs = (message: string) => new CliError(ExitCode.BadArgs, message);

/** The Auth service's response messages, by name. */
export type AuthResponseName =
  | "AuthStatusResponse"
  | "AuthUserAddResponse"
  | "AuthUserGetResponse"
  | "AuthUserListResponse"
  | "AuthUserDeleteResponse"
  | "AuthUserChangePasswordResponse"
  | "AuthUserGrantRoleResponse"
  | "AuthUserRevokeRoleResponse"
  | "AuthRoleAddResponse"
  | "AuthRoleGetResponse"
  | "AuthRoleListResponse"
  | "AuthRoleDeleteResponse"
  | "AuthRoleGrantPermissionResponse"
  | "AuthRoleRevokePermissionResponse";

export interface AuthPrint {
  /** The simple printer's output. */
  simple: string | Uint8Array;
  /** The fields printer's lines after the header; null where etcdctl has none ("fields not supported"). */
  fields: string | Uint8Array | null;
}

/** Prints an Auth response in the -w format, as etcdctl's printers do. */
export function printAuth(ctx: Ctx, name: AuthResponseName, res: { header?: etcdserverpb.IResponseHeader | null }, p: AuthPrint): void {
  const format = ctx.globals.writeOut;
  switch (format) {
    case "simple":
      return ctx.out(p.simple);
    case "fields":
      if (p.fields === null) throw unsupportedFormat(format);
      ctx.out(fieldsHeader(toHeader(res.header)));
      return ctx.out(p.fields);
    case "json":
      return ctx.out(marshalMessage(`etcdserverpb.${name}`, res as Record<string, unknown>) + "\n");
    case "protobuf": {
      const type = etcdserverpb[name] as unknown as { encode(m: unknown): { finish(): Uint8Array } };
      return ctx.out(type.encode(goWire(`etcdserverpb.${name}`, res as Record<string, unknown>)).finish());
    }
    default:
      throw unsupportedFormat(format);
  }
}

function noArgs(what: string, args: string[]): void {
  if (args.length !== 0) throw badArgs(`auth ${what} command does not accept any arguments`);
}

/** The most times `auth enable` creates the root role and tries again (once is enough unless raced). */
const ENABLE_ATTEMPTS_MAX = 3;

const enableCommand: Command = {
  name: "enable",
  usage: "enable",
  short: "Enables authentication",
  async run(ctx, args) {
    noArgs("enable", args);
    const client = ctx.client();
    // As etcdctl: a root user without the root role gets the role (created if need be), then enable again.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.call(rpc.authEnable, {}, ctx.requestOpts());
        break;
      } catch (err) {
        if (err !== Errors.rootRoleNotExist || attempt >= ENABLE_ATTEMPTS_MAX) throw err;
      }
      await client.call(rpc.authRoleAdd, { name: "root" }, ctx.requestOpts());
      await client.call(rpc.authUserGrantRole, { user: "root", role: "root" }, ctx.requestOpts());
    }
    ctx.out("Authentication Enabled\n");
  },
};

const disableCommand: Command = {
  name: "disable",
  usage: "disable",
  short: "Disables authentication",
  async run(ctx, args) {
    noArgs("disable", args);
    await ctx.client().call(rpc.authDisable, {}, ctx.requestOpts());
    ctx.out("Authentication Disabled\n");
  },
};

const statusCommand: Command = {
  name: "status",
  usage: "status",
  short: "Returns authentication status",
  async run(ctx, args) {
    noArgs("status", args);
    printAuthStatus(ctx, await ctx.client().call(rpc.authStatus, {}, ctx.requestOpts()));
  },
};

/** etcdctl 3.5's AuthStatus printers. */
export function printAuthStatus(ctx: Ctx, res: etcdserverpb.AuthStatusResponse): void {
  printAuth(ctx, "AuthStatusResponse", res, {
    simple: `Authentication Status: ${res.enabled}\nAuthRevision: ${res.authRevision}\n`,
    fields: `"Enabled" : ${res.enabled}\n"AuthRevision" : ${res.authRevision}\n`,
  });
}

export const authCommand: Command = {
  name: "auth",
  usage: "auth <enable or disable>",
  short: "Enable or disable authentication",
  subcommands: [enableCommand, statusCommand, disableCommand],
};
