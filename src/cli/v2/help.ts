/**
 * etcdctl's v2 help screens (urfave/cli v1's templates, as etcdctl 3.5 prints them with
 * ETCDCTL_API=2): the whole command list, including the commands etcd-ts answers only with an error
 * that names their v3 equivalent, and the global options.
 */
import type { V2Flag } from "./flags.ts";

/** The v2 commands and their one-line descriptions, in etcdctl's order. */
export const V2_COMMANDS: readonly [string, string][] = [
  ["backup", "backup an etcd directory"],
  ["cluster-health", "check the health of the etcd cluster"],
  ["mk", "make a new key with a given value"],
  ["mkdir", "make a new directory"],
  ["rm", "remove a key or a directory"],
  ["rmdir", "removes the key if it is an empty directory or a key-value pair"],
  ["get", "retrieve the value of a key"],
  ["ls", "retrieve a directory"],
  ["set", "set the value of a key"],
  ["setdir", "create a new directory or update an existing directory TTL"],
  ["update", "update an existing key with a given value"],
  ["updatedir", "update an existing directory"],
  ["watch", "watch a key for changes"],
  ["exec-watch", "watch a key for changes and exec an executable"],
  ["member", "member add, remove and list subcommands"],
  ["user", "user add, grant and revoke subcommands"],
  ["role", "role add, grant and revoke subcommands"],
  ["auth", "overall auth controls"],
];

export const MEMBER_COMMANDS: readonly [string, string][] = [
  ["list", "enumerate existing cluster members"],
  ["add", "add a new member to the etcd cluster"],
  ["remove", "remove an existing member from the etcd cluster"],
  ["update", "update an existing member in the etcd cluster"],
];

/** Global options in etcdctl v2's order, with the left column as urfave/cli writes it. */
export const V2_GLOBAL_FLAGS: readonly (V2Flag & { column: string })[] = [
  { names: ["debug"], type: "bool", column: "--debug", usage: "output cURL commands which can be used to reproduce the request" },
  { names: ["no-sync"], type: "bool", column: "--no-sync", usage: "don't synchronize cluster information before sending request" },
  { names: ["output", "o"], type: "string", column: "--output simple, -o simple", usage: 'output response in the given format (simple, `extended` or `json`) (default: "simple")' },
  { names: ["discovery-srv", "D"], type: "string", column: "--discovery-srv value, -D value", usage: "domain name to query for SRV records describing cluster endpoints" },
  { names: ["insecure-discovery"], type: "bool", column: "--insecure-discovery", usage: "accept insecure SRV records describing cluster endpoints" },
  { names: ["peers", "C"], type: "string", column: "--peers value, -C value", usage: 'DEPRECATED - "--endpoints" should be used instead' },
  { names: ["endpoint"], type: "string", column: "--endpoint value", usage: 'DEPRECATED - "--endpoints" should be used instead' },
  {
    names: ["endpoints"],
    type: "string",
    column: "--endpoints value",
    usage: 'a comma-delimited list of machine addresses in the cluster (default: "http://127.0.0.1:2379,http://127.0.0.1:4001")',
  },
  { names: ["cert-file"], type: "string", column: "--cert-file value", usage: "identify HTTPS client using this SSL certificate file" },
  { names: ["key-file"], type: "string", column: "--key-file value", usage: "identify HTTPS client using this SSL key file" },
  { names: ["ca-file"], type: "string", column: "--ca-file value", usage: "verify certificates of HTTPS-enabled servers using this CA bundle" },
  { names: ["username", "u"], type: "string", column: "--username value, -u value", usage: "provide username[:password] and prompt if password is not supplied." },
  { names: ["timeout"], type: "duration", column: "--timeout value", usage: "connection timeout per request (default: 2s)" },
  { names: ["total-timeout"], type: "duration", column: "--total-timeout value", usage: "timeout for the command execution (except watch) (default: 5s)" },
  { names: ["help", "h"], type: "bool", column: "--help, -h", usage: "show help" },
  { names: ["version", "v"], type: "bool", column: "--version, -v", usage: "print the version" },
];

/** Rows padded to the widest left column plus two spaces, as Go's tabwriter lays them out. */
function table(rows: readonly [string, string][]): string {
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `   ${l.padEnd(width)}  ${r}\n`).join("");
}

export function rootHelp(version: string): string {
  return (
    "NAME:\n   etcdctl - A simple command line client for etcd.\n\n" +
    "USAGE:\n   etcdctl [global options] command [command options] [arguments...]\n\n" +
    `VERSION:\n   ${version}\n\n` +
    `COMMANDS:\n${table([...V2_COMMANDS, ["help, h", "Shows a list of commands or help for one command"]])}\n` +
    `GLOBAL OPTIONS:\n${table(V2_GLOBAL_FLAGS.map((f) => [f.column, f.usage]))}`
  );
}

export function memberHelp(): string {
  return (
    "NAME:\n   etcdctl member - member add, remove and list subcommands\n\n" +
    "USAGE:\n   etcdctl member command [command options] [arguments...]\n\n" +
    `COMMANDS:\n${table(MEMBER_COMMANDS)}\n` +
    "OPTIONS:\n   --help, -h  show help\n   \n"
  );
}

export function memberListHelp(): string {
  return "NAME:\n   etcdctl member list - enumerate existing cluster members\n\nUSAGE:\n   etcdctl member list  \n";
}

export function clusterHealthHelp(): string {
  return (
    "NAME:\n   etcdctl cluster-health - check the health of the etcd cluster\n\n" +
    "USAGE:\n   etcdctl cluster-health [command options]  \n\n" +
    "OPTIONS:\n   --forever, -f  forever check the health every 10 second until CTRL+C\n   \n"
  );
}
