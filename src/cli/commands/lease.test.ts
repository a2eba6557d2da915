import { describe, expect, test } from "bun:test";
import { CliError, ExitCode } from "../errors.ts";
import { leaseFromArg, leaseHex } from "./lease.ts";

describe("lease ids", () => {
  test("print as Go's %016x, a negative id keeping its sign inside the width", () => {
    expect(leaseHex(0x694d77aa9e38260fn)).toBe("694d77aa9e38260f");
    expect(leaseHex(0x1234n)).toBe("0000000000001234");
    expect(leaseHex(-1n)).toBe("-000000000000001");
  });

  test("parse as strconv.ParseInt(arg, 16, 64), with etcdctl's message and exit code", () => {
    expect(leaseFromArg("694d77aa9e38260f")).toBe(0x694d77aa9e38260fn);
    expect(leaseFromArg("ABC")).toBe(0xabcn);
    const bad = (arg: string) => {
      try {
        leaseFromArg(arg);
      } catch (e) {
        return [(e as CliError).code, (e as CliError).message];
      }
      return null;
    };
    expect(bad("zz")).toEqual([ExitCode.BadArgs, 'bad lease ID arg (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex']);
    expect(bad("0x12")).toEqual([ExitCode.BadArgs, 'bad lease ID arg (strconv.ParseInt: parsing "0x12": invalid syntax), expecting ID in Hex']);
    expect(bad("8000000000000000")).toEqual([ExitCode.BadArgs, 'bad lease ID arg (strconv.ParseInt: parsing "8000000000000000": value out of range), expecting ID in Hex']);
  });
});
