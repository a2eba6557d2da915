import { describe, expect, test } from "bun:test";
import { CliError, ExitCode } from "./errors.ts";
import { type FlagSpec, formatGoDuration, parseFlags, parseGoDuration } from "./flags.ts";

const specs: FlagSpec[] = [
  { name: "prefix", type: "bool", usage: "" },
  { name: "limit", type: "int", usage: "" },
  { name: "rev", type: "int", usage: "" },
  { name: "write-out", short: "w", type: "string", default: "simple", usage: "" },
  { name: "interactive", short: "i", type: "bool", usage: "" },
  { name: "endpoints", type: "strings", default: ["127.0.0.1:2379"], usage: "" },
  { name: "dial-timeout", type: "duration", default: 2000, usage: "" },
  { name: "id", type: "uint", usage: "" },
];

function errorOf(argv: string[]): CliError {
  try {
    parseFlags(specs, argv);
  } catch (e) {
    return e as CliError;
  }
  throw new Error("expected a flag error");
}

describe("parseFlags reads flags as pflag does", () => {
  test("long forms with = or a separate value, flags among the arguments, defaults for the rest", () => {
    const p = parseFlags(specs, ["foo", "--limit=5", "bar", "--rev", "7", "--prefix"]);
    expect(p.args).toEqual(["foo", "bar"]);
    expect(p.values.limit).toBe(5n);
    expect(p.values.rev).toBe(7n);
    expect(p.values.prefix).toBe(true);
    expect(p.values["write-out"]).toBe("simple");
    expect([...p.set].sort()).toEqual(["limit", "prefix", "rev"]);
  });

  test("shorthands: -w json, -wjson, -w=json, and runs of booleans", () => {
    expect(parseFlags(specs, ["-w", "json"]).values["write-out"]).toBe("json");
    expect(parseFlags(specs, ["-wjson"]).values["write-out"]).toBe("json");
    expect(parseFlags(specs, ["-w=json"]).values["write-out"]).toBe("json");
    const p = parseFlags(specs, ["-iw", "table"]);
    expect(p.values.interactive).toBe(true);
    expect(p.values["write-out"]).toBe("table");
  });

  test("booleans take a value only after =", () => {
    expect(parseFlags(specs, ["--prefix=false", "k"]).values.prefix).toBe(false);
    const p = parseFlags(specs, ["--prefix", "false"]);
    expect(p.values.prefix).toBe(true);
    expect(p.args).toEqual(["false"]);
  });

  test("-- ends the flags: what follows is arguments, even if it looks like a flag", () => {
    const p = parseFlags(specs, ["k", "--", "--rev", "-x"]);
    expect(p.args).toEqual(["k", "--rev", "-x"]);
    expect(p.values.rev).toBe(0n);
  });

  test("string slices split on commas and add up when repeated", () => {
    expect(parseFlags(specs, ["--endpoints", "a:1,b:2", "--endpoints=c:3"]).values.endpoints).toEqual(["a:1", "b:2", "c:3"]);
  });

  test("integers take Go's bases; durations are Go durations", () => {
    expect(parseFlags(specs, ["--limit", "0x10"]).values.limit).toBe(16n);
    expect(parseFlags(specs, ["--id", "18446744073709551615"]).values.id).toBe(18446744073709551615n);
    expect(parseFlags(specs, ["--dial-timeout", "1m30s"]).values["dial-timeout"]).toBe(90_000);
    expect(parseFlags(specs, ["--dial-timeout=250ms"]).values["dial-timeout"]).toBe(250);
  });

  test("a dash pasted from a web page (–lease) is read as --", () => {
    const p = parseFlags(specs, ["\u2013limit=3", "foo"]);
    expect(p.values.limit).toBe(3n);
    expect(p.args).toEqual(["foo"]);
  });

  test("errors carry pflag's words and exit 1", () => {
    expect(errorOf(["--nope"]).message).toBe("unknown flag: --nope");
    expect(errorOf(["-x"]).message).toBe("unknown shorthand flag: 'x' in -x");
    expect(errorOf(["--limit"]).message).toBe("flag needs an argument: --limit");
    expect(errorOf(["-w"]).message).toBe("flag needs an argument: 'w' in -w");
    expect(errorOf(["--limit", "abc"]).message).toBe('invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax');
    expect(errorOf(["--id", "-1"]).message).toBe('invalid argument "-1" for "--id" flag: strconv.ParseUint: parsing "-1": invalid syntax');
    expect(errorOf(["--limit", "9223372036854775808"]).message).toContain("value out of range");
    expect(errorOf(["--prefix=maybe"]).message).toBe('invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
    expect(errorOf(["--dial-timeout", "5"]).message).toBe('invalid argument "5" for "--dial-timeout" flag: time: missing unit in duration "5"');
    expect(errorOf(["--dial-timeout", "soon"]).message).toBe('invalid argument "soon" for "--dial-timeout" flag: time: invalid duration "soon"');
    expect(errorOf(["--nope"]).code).toBe(ExitCode.Error);
  });
});

test("Go durations both ways", () => {
  expect(parseGoDuration("1h2m3.5s")).toBe(3_723_500);
  expect(parseGoDuration("0")).toBe(0);
  expect(formatGoDuration(2000)).toBe("2s");
  expect(formatGoDuration(90_000)).toBe("1m30s");
  expect(formatGoDuration(3_600_000)).toBe("1h0m0s");
  expect(formatGoDuration(500)).toBe("500ms");
  expect(formatGoDuration(0)).toBe("0s");
});
