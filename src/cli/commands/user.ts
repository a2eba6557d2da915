/**
 * `etcdctl user add|delete|get|list|passwd|grant-role|revoke-role`. Passwords come from the argument
 * (`user add name:password`), --new-user-password, a prompt asked twice (--interactive, the default;
 * from stdin when it is not a terminal, as etcdctl's speakeasy reads it), or the first word of stdin
 * (--interactive=false).
 */
import { rpc } from "../../client/index.ts";
import { type Command, flagBool, flagString } from "../command.ts";
import type { Ctx } from "../context.ts";
import { badArgs, printAuth } from "./auth.ts";
import { printRoleGet } from "./role.ts";

/** etcdctl's readPasswordInteractive: asked twice, must be non-empty and the same both times. */
export async function readPasswordTwice(ctx: Ctx, name: string): Promise<string> {
  const first = await ctx.readSecret(`Password of ${name}: `);
  if (first.length === 0) throw badArgs("empty password");
  const second = await ctx.readSecret(`Type password of ${name} again for confirmation: `);
  if (first !== second) throw badArgs("given passwords are different");
  return first;
}

/** fmt.Scanf("%s"): the first word of stdin's next line ("" for an empty line or none). */
export function firstWord(line: string | null): string {
  return /^[ \t\r]*(\S*)/.exec(line ?? "")![1];
}

async function readPassword(ctx: Ctx, name: string, interactive: boolean): Promise<string> {
  return interactive ? readPasswordTwice(ctx, name) : firstWord(await ctx.io.readLine());
}

function oneUser(what: string, args: string[]): string {
  if (args.length !== 1) throw badArgs(`user ${what} command requires user name as its argument`);
  return args[0];
}

const interactiveFlag = (usage: string) => ({ name: "interactive", type: "bool" as const, default: true, usage });

const addCommand: Command = {
  name: "add",
  usage: "add <user name or user:password> [options]",
  short: "Adds a new user",
  flags: [
    interactiveFlag("Read password from stdin instead of interactive terminal"),
    { name: "new-user-password", type: "string", usage: "Supply password from the command line flag" },
    { name: "no-password", type: "bool", usage: "Create a user without password (CN based auth only)" },
  ],
  async run(ctx, args, flags) {
    const arg = oneUser("add", args);
    let name = arg;
    let password = "";
    const noPassword = flagBool(flags, "no-password");
    if (!noPassword) {
      const fromFlag = flagString(flags, "new-user-password");
      const colon = arg.indexOf(":");
      if (fromFlag !== "") {
        password = fromFlag;
      } else if (colon < 0) {
        password = await readPassword(ctx, arg, flagBool(flags, "interactive"));
      } else {
        name = arg.slice(0, colon);
        password = arg.slice(colon + 1);
        if (name.length === 0) throw badArgs("empty user name is not allowed");
      }
    }
    const res = await ctx.client().call(rpc.authUserAdd, { name, password, options: { noPassword } }, ctx.requestOpts());
    printAuth(ctx, "AuthUserAddResponse", res, { simple: `User ${name} created\n`, fields: "" });
  },
};

const deleteCommand: Command = {
  name: "delete",
  usage: "delete <user name>",
  short: "Deletes a user",
  async run(ctx, args) {
    const name = oneUser("delete", args);
    const res = await ctx.client().call(rpc.authUserDelete, { name }, ctx.requestOpts());
    printAuth(ctx, "AuthUserDeleteResponse", res, { simple: `User ${name} deleted\n`, fields: "" });
  },
};

const getCommand: Command = {
  name: "get",
  usage: "get <user name> [options]",
  short: "Gets detailed information of a user",
  flags: [{ name: "detail", type: "bool", usage: "Show permissions of roles granted to the user" }],
  async run(ctx, args, flags) {
    const name = oneUser("get", args);
    const client = ctx.client();
    const res = await client.call(rpc.authUserGet, { name }, ctx.requestOpts());
    if (!flagBool(flags, "detail")) {
      printAuth(ctx, "AuthUserGetResponse", res, { simple: `User: ${name}\nRoles:${res.roles.map((r) => " " + r).join("")}\n`, fields: null });
      return;
    }
    // In every format: the name, then each role as `role get` prints it.
    ctx.out(`User: ${name}\n`);
    for (const role of res.roles) {
      ctx.out("\n");
      printRoleGet(ctx, role, await client.call(rpc.authRoleGet, { role }, ctx.requestOpts()));
    }
  },
};

const listCommand: Command = {
  name: "list",
  usage: "list",
  short: "Lists all users",
  async run(ctx, args) {
    if (args.length !== 0) throw badArgs("user list command requires no arguments");
    const res = await ctx.client().call(rpc.authUserList, {}, ctx.requestOpts());
    printAuth(ctx, "AuthUserListResponse", res, { simple: res.users.map((u) => `${u}\n`).join(""), fields: null });
  },
};

const passwdCommand: Command = {
  name: "passwd",
  usage: "passwd <user name> [options]",
  short: "Changes password of user",
  flags: [interactiveFlag("If true, read password from stdin instead of interactive terminal")],
  async run(ctx, args, flags) {
    const name = oneUser("passwd", args);
    const password = await readPassword(ctx, name, flagBool(flags, "interactive"));
    const res = await ctx.client().call(rpc.authUserChangePassword, { name, password }, ctx.requestOpts());
    printAuth(ctx, "AuthUserChangePasswordResponse", res, { simple: "Password updated\n", fields: "" });
  },
};

const grantRoleCommand: Command = {
  name: "grant-role",
  usage: "grant-role <user name> <role name>",
  short: "Grants a role to a user",
  async run(ctx, args) {
    if (args.length !== 2) throw badArgs("user grant command requires user name and role name as its argument");
    const [user, role] = args;
    const res = await ctx.client().call(rpc.authUserGrantRole, { user, role }, ctx.requestOpts());
    printAuth(ctx, "AuthUserGrantRoleResponse", res, { simple: `Role ${role} is granted to user ${user}\n`, fields: "" });
  },
};

const revokeRoleCommand: Command = {
  name: "revoke-role",
  usage: "revoke-role <user name> <role name>",
  short: "Revokes a role from a user",
  async run(ctx, args) {
    if (args.length !== 2) throw badArgs("user revoke-role requires user name and role name as its argument");
    const [name, role] = args;
    const res = await ctx.client().call(rpc.authUserRevokeRole, { name, role }, ctx.requestOpts());
    printAuth(ctx, "AuthUserRevokeRoleResponse", res, { simple: `Role ${role} is revoked from user ${name}\n`, fields: "" });
  },
};

export const userCommand: Command = {
  name: "user",
  usage: "user <subcommand>",
  short: "User related commands",
  subcommands: [addCommand, deleteCommand, getCommand, listCommand, passwdCommand, grantRoleCommand, revokeRoleCommand],
};
