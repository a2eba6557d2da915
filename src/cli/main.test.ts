import { describe, expect, test } from "bun:test";
import type { Command } from "./command.ts";
import { fakeIo as testIo } from "./test-io.ts";
import { ExitCode } from "./errors.ts";
import { applyEnv, GLOBAL_FLAGS, globalsFrom } from "./global.ts";
import { defaultOf } from "./flags.ts";
import { findCommand, runCtl } from "./main.ts";

const noop = async () => {};
const tree: Command[] = [
  { name: "get", usage: "get <key>", short: "", run: noop },
  { name: "member", usage: "member", short: "", subcommands: [
    { name: "list", usage: "list", short: "", run: noop },
    { name: "add", usage: "add <name>", short: "", run: noop },
  ] },
  { name: "endpoint", usage: "endpoint", short: "", flags: [{ name: "cluster", type: "bool", usage: "" }], subcommands: [
    { name: "health", usage: "health", short: "", run: noop },
    { name: "hashkv", usage: "hashkv", short: "", run: noop },
  ] },
  { name: "alarm", usage: "alarm", short: "", subcommands: [] },
  { name: "auth", usage: "auth", short: "", subcommands: [] },
];

function names(argv: string[]): string[] | string | null {
  const f = findCommand(tree, argv);
  if (f === null) return null;
  if ("unknown" in f) return `unknown ${f.unknown}`;
  return [...f.path.map((c) => c.name), "|", ...f.rest];
}

describe("findCommand walks the command words as cobra does", () => {
  test("global flags before the command, with their values, are not command words", () => {
    expect(names(["--endpoints", "a:1", "-w", "json", "get", "foo"])).toEqual(["get", "|", "--endpoints", "a:1", "-w", "json", "foo"]);
    expect(names(["--endpoints=a:1", "member", "list"])).toEqual(["member", "list", "|", "--endpoints=a:1"]);
  });

  test("a unique prefix selects a command; an ambiguous one does not", () => {
    expect(names(["mem", "li"])).toEqual(["member", "list", "|"]);
    expect(names(["a"])).toBe("unknown a");
    expect(names(["nosuch"])).toBe("unknown nosuch");
  });

  test("a group's flags belong to its subcommands; arguments after the command stay arguments", () => {
    expect(names(["endpoint", "--cluster", "health"])).toEqual(["endpoint", "health", "|", "--cluster"]);
    expect(names(["get", "member"])).toEqual(["get", "|", "member"]);
  });

  test("no command at all", () => {
    expect(names(["--endpoints", "x"])).toBeNull();
  });
});


const fakeIo = (env: Record<string, string> = {}) => testIo({ env });

describe("runCtl", () => {
  test("version, also by a prefix", async () => {
    const f = fakeIo();
    expect(await runCtl(["vers"], f.io)).toBe(0);
    expect(f.out()).toMatch(/^etcdctl version: 3\.5\.\d+\nAPI version: 3\.5\n/);
  });

  test("an unknown command is an error naming it, exit 1", async () => {
    const f = fakeIo();
    expect(await runCtl(["nosuch"], f.io)).toBe(ExitCode.Error);
    expect(f.err()).toBe('Error: unknown command "nosuch" for "etcdctl"\nRun \'etcdctl --help\' for usage.\n');
  });

  test("an unknown flag is an error with pflag's words", async () => {
    const f = fakeIo();
    expect(await runCtl(["version", "--nope"], f.io)).toBe(ExitCode.Error);
    expect(f.err()).toBe("Error: unknown flag: --nope\n");
  });

  test("ETCDCTL_API picks the command line: 2 is etcdctl v2's, 3 (or none) v3's, anything else is refused as etcdctl 3.5 refuses it", async () => {
    const two = fakeIo({ ETCDCTL_API: "2" });
    expect(await runCtl(["--version"], two.io)).toBe(0);
    expect(two.out()).toBe("etcdctl version: 3.5.0\nAPI version: 2\n");
    expect(await runCtl(["version"], fakeIo({ ETCDCTL_API: "3" }).io)).toBe(0);
    const nine = fakeIo({ ETCDCTL_API: "9" });
    expect(await runCtl(["version"], nine.io)).toBe(ExitCode.Error);
    expect(nine.err()).toBe("unsupported API version: 9\n");
  });

  test("an unsupported output format exits 4", async () => {
    const f = fakeIo();
    expect(await runCtl(["version", "-w", "yaml"], f.io)).toBe(ExitCode.BadFeature);
    expect(f.err()).toBe("Error: unsupported output format\n");
  });

  test("help with no command and for a command", async () => {
    const root = fakeIo();
    expect(await runCtl([], root.io)).toBe(0);
    expect(root.out()).toContain("COMMANDS:\n");
    const one = fakeIo();
    expect(await runCtl(["version", "--help"], one.io)).toBe(0);
    expect(one.out()).toContain("etcdctl version");
  });
});

describe("ETCDCTL_* variables fill global flags not given", () => {
  const fresh = () => {
    const values: Record<string, any> = {};
    for (const s of GLOBAL_FLAGS) values[s.name] = defaultOf(s);
    return values;
  };

  test("a variable sets the flag; the command line wins; unknown ones are warned about", () => {
    const values = fresh();
    const warnings: string[] = [];
    applyEnv(values, new Set(["write-out"]), { ETCDCTL_ENDPOINTS: "a:1,b:2", ETCDCTL_DIAL_TIMEOUT: "3s", ETCDCTL_WRITE_OUT: "json", ETCDCTL_BOGUS: "1", ETCDCTL_API: "3" }, (w) => warnings.push(w));
    expect(values.endpoints).toEqual(["a:1", "b:2"]);
    expect(values["dial-timeout"]).toBe(3000);
    expect(values["write-out"]).toBe("simple");
    expect(warnings).toEqual(["pkg/flags: unrecognized environment variable ETCDCTL_BOGUS=1"]);
  });

  test("a bad value names the variable", () => {
    expect(() => applyEnv(fresh(), new Set(), { ETCDCTL_DIAL_TIMEOUT: "soon" }, () => {})).toThrow(/ETCDCTL_DIAL_TIMEOUT/);
  });

  test("--user name:password splits; both forms at once is an error", () => {
    const v = fresh();
    v.user = "root:secret";
    const g = globalsFrom(v);
    expect([g.user, g.password]).toEqual(["root", "secret"]);
    v.password = "x";
    expect(() => globalsFrom(v)).toThrow(/--user must be a user name only/);
  });
});
