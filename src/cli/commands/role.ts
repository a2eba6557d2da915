/**
 * `etcdctl role add|delete|get|list|grant-permission|revoke-permission`. Permissions cover a key, a
 * range [key, end), a prefix (--prefix) or every key from one on (--from-key, end "\0"); an empty
 * key with either flag is every key.
 */
import { rpc } from "../../client/index.ts";
import { prefixEnd } from "../../client/kv.ts";
import type { authpb, etcdserverpb } from "../../proto/etcd.js";
import { type Command, flagBool, type Flags } from "../command.ts";
import type { Ctx } from "../context.ts";
import { goQuoteBytes } from "../output/go-quote.ts";
import { badArgs, printAuth } from "./auth.ts";

/** authpb.Permission.Type by name (clientv3.StrToPermissionType: any case). */
const PERM_TYPES: Record<string, number> = { READ: 0, WRITE: 1, READWRITE: 2 };
const PERM_NAMES = ["READ", "WRITE", "READWRITE"];

export function parsePermType(s: string): number {
  const t = PERM_TYPES[s.toUpperCase()];
  if (t === undefined) throw badArgs(`invalid permission type: ${s}`);
  return t;
}

const OPEN_END = "\x00";

/**
 * etcdctl's permRange: the key and range end a permission covers, from `[key, endkey]` and the
 * --prefix/--from-key flags. Strings are byte strings (latin1 after UTF-8 encoding of the argument).
 */
export function permRange(args: string[], prefix: boolean, fromKey: boolean): { key: string; rangeEnd: string } {
  const key = args[0];
  if (key.length === 0) {
    if (prefix && fromKey) throw badArgs("--from-key and --prefix flags are mutually exclusive");
    // The empty key as a range is ["\0", end); with either flag "\0" as end is every key.
    return { key: OPEN_END, rangeEnd: prefix || fromKey ? OPEN_END : "" };
  }
  if (args.length === 1) {
    if (prefix) {
      if (fromKey) throw badArgs("--from-key and --prefix flags are mutually exclusive");
      return { key, rangeEnd: prefixEnd(Buffer.from(key, "latin1")).toString("latin1") };
    }
    return { key, rangeEnd: fromKey ? OPEN_END : "" };
  }
  if (prefix) throw badArgs("unexpected endkey argument with --prefix flag");
  if (fromKey) throw badArgs("unexpected endkey argument with --from-key flag");
  return { key, rangeEnd: args[1] };
}

/** Arguments as byte strings: each UTF-8 byte one char, so ranges and prefixes work on bytes. */
const byteString = (s: string) => Buffer.from(s, "utf8").toString("latin1");
const bytesOf = (s: string) => Buffer.from(s, "latin1");

/** The simple printer's lines for one permission: a key, or a range (noting a prefix). */
function simplePerm(p: authpb.IPermission): string {
  const key = Buffer.from(p.key ?? []).toString("latin1");
  const end = Buffer.from(p.rangeEnd ?? []).toString("latin1");
  if (end.length === 0) return `\t${key}\n`;
  let line = end !== OPEN_END ? `\t[${key}, ${end})` : `\t[${key}, <open ended>`;
  if (prefixEnd(bytesOf(key)).toString("latin1") === end) line += ` (prefix ${key})`;
  return line + "\n";
}

/** `role get` in the -w format (also `user get --detail`, once per role). */
export function printRoleGet(ctx: Ctx, role: string, res: etcdserverpb.AuthRoleGetResponse): void {
  const perms = res.perm ?? [];
  const reads = perms.filter((p) => p.permType === 0 || p.permType === 2);
  const writes = perms.filter((p) => p.permType === 1 || p.permType === 2);
  const simple = `Role ${byteString(role)}\nKV Read:\n${reads.map(simplePerm).join("")}KV Write:\n${writes.map(simplePerm).join("")}`;
  const fields = perms
    .map((p) => `"PermType" :  ${PERM_NAMES[p.permType ?? 0] ?? p.permType}\n"Key" : ${goQuoteBytes(p.key ?? new Uint8Array())}\n"RangeEnd" : ${goQuoteBytes(p.rangeEnd ?? new Uint8Array())}\n`)
    .join("");
  printAuth(ctx, "AuthRoleGetResponse", res, { simple: bytesOf(simple), fields });
}

function oneRole(what: string, args: string[]): string {
  if (args.length !== 1) throw badArgs(`role ${what} command requires role name as its argument`);
  return args[0];
}

const addCommand: Command = {
  name: "add",
  usage: "add <role name>",
  short: "Adds a new role",
  async run(ctx, args) {
    const name = oneRole("add", args);
    const res = await ctx.client().call(rpc.authRoleAdd, { name }, ctx.requestOpts());
    printAuth(ctx, "AuthRoleAddResponse", res, { simple: `Role ${name} created\n`, fields: "" });
  },
};

const deleteCommand: Command = {
  name: "delete",
  usage: "delete <role name>",
  short: "Deletes a role",
  async run(ctx, args) {
    const role = oneRole("delete", args);
    const res = await ctx.client().call(rpc.authRoleDelete, { role }, ctx.requestOpts());
    printAuth(ctx, "AuthRoleDeleteResponse", res, { simple: `Role ${role} deleted\n`, fields: "" });
  },
};

const getCommand: Command = {
  name: "get",
  usage: "get <role name>",
  short: "Gets detailed information of a role",
  async run(ctx, args) {
    const role = oneRole("get", args);
    printRoleGet(ctx, role, await ctx.client().call(rpc.authRoleGet, { role }, ctx.requestOpts()));
  },
};

const listCommand: Command = {
  name: "list",
  usage: "list",
  short: "Lists all roles",
  async run(ctx, args) {
    if (args.length !== 0) throw badArgs("role list command requires no arguments");
    const res = await ctx.client().call(rpc.authRoleList, {}, ctx.requestOpts());
    printAuth(ctx, "AuthRoleListResponse", res, {
      simple: res.roles.map((r) => `${r}\n`).join(""),
      fields: `"Roles" :${res.roles.map((r) => " " + goQuoteBytes(Buffer.from(r, "utf8"))).join("")}\n`,
    });
  },
};

const permFlags = (verb: string) => [
  { name: "prefix", type: "bool" as const, usage: `${verb} a prefix permission` },
  { name: "from-key", type: "bool" as const, usage: `${verb} a permission of keys that are greater than or equal to the given key using byte compare` },
];

function rangeOf(args: string[], flags: Flags): { key: string; rangeEnd: string } {
  return permRange(args.map(byteString), flagBool(flags, "prefix"), flagBool(flags, "from-key"));
}

const grantPermissionCommand: Command = {
  name: "grant-permission",
  usage: "grant-permission [options] <role name> <permission type> <key> [endkey]",
  short: "Grants a key to a role",
  flags: permFlags("grant"),
  async run(ctx, args, flags) {
    if (args.length < 3) throw badArgs("role grant command requires role name, permission type, and key [endkey] as its argument");
    const permType = parsePermType(args[1]);
    const { key, rangeEnd } = rangeOf(args.slice(2), flags);
    const perm = { permType, key: bytesOf(key), rangeEnd: bytesOf(rangeEnd) };
    const res = await ctx.client().call(rpc.authRoleGrantPermission, { name: args[0], perm }, ctx.requestOpts());
    printAuth(ctx, "AuthRoleGrantPermissionResponse", res, { simple: `Role ${args[0]} updated\n`, fields: "" });
  },
};

const revokePermissionCommand: Command = {
  name: "revoke-permission",
  usage: "revoke-permission <role name> <key> [endkey]",
  short: "Revokes a key from a role",
  flags: permFlags("revoke"),
  async run(ctx, args, flags) {
    if (args.length < 2) throw badArgs("role revoke-permission command requires role name and key [endkey] as its argument");
    const { key, rangeEnd } = rangeOf(args.slice(1), flags);
    const req = { role: args[0], key: bytesOf(key), rangeEnd: bytesOf(rangeEnd) };
    const res = await ctx.client().call(rpc.authRoleRevokePermission, req, ctx.requestOpts());
    // etcdctl names the key as given (not the "\0" an empty one becomes).
    const shown = byteString(args[1]);
    const role = byteString(args[0]);
    const simple =
      rangeEnd.length === 0
        ? `Permission of key ${shown} is revoked from role ${role}\n`
        : rangeEnd !== OPEN_END
          ? `Permission of range [${shown}, ${rangeEnd}) is revoked from role ${role}\n`
          : `Permission of range [${shown}, <open ended> is revoked from role ${role}\n`;
    printAuth(ctx, "AuthRoleRevokePermissionResponse", res, { simple: bytesOf(simple), fields: "" });
  },
};

export const roleCommand: Command = {
  name: "role",
  usage: "role <subcommand>",
  short: "Role related commands",
  subcommands: [addCommand, deleteCommand, getCommand, listCommand, grantPermissionCommand, revokePermissionCommand],
};
