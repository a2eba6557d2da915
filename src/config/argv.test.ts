import { describe, expect, test } from "bun:test";
import { parseArgv } from "./argv";
import { configError } from "./test-helpers";

const texts = (argv: string[]) => Object.fromEntries([...parseArgv(argv).values].map(([flag, raw]) => [flag, raw.text]));

describe("parseArgv", () => {
  test("one or two dashes, with a space or '='", () => {
    for (const argv of [["-name", "n1"], ["--name", "n1"], ["--name=n1"], ["-name=n1"]]) {
      expect(texts(argv)).toEqual({ name: "n1" });
    }
  });

  test("'=' splits at the first '=' only", () => {
    expect(texts(["--initial-cluster=n1=http://a:2380"])).toEqual({ "initial-cluster": "n1=http://a:2380" });
  });

  test("boolean flags stand alone or take '=value'", () => {
    expect(texts(["--debug"])).toEqual({ debug: "true" });
    expect(texts(["-debug", "-name", "x"])).toEqual({ debug: "true", name: "x" });
    expect(texts(["--debug=false"])).toEqual({ debug: "false" });
    expect(texts(["--debug=true"])).toEqual({ debug: "true" });
  });

  test("the last occurrence wins, as in Go", () => {
    expect(texts(["--name", "a", "-name=b"])).toEqual({ name: "b" });
  });

  test("values may start with a dash unless they are a known flag", () => {
    expect(texts(["--initial-cluster-token", "-token-"])).toEqual({ "initial-cluster-token": "-token-" });
    const error = configError(() => parseArgv(["--name", "--data-dir", "x"]));
    expect(error.message).toBe("Flag --name needs a value: write --name VALUE or --name=VALUE");
    expect(error.setting).toBe("--name");
    expect(() => parseArgv(["--name"])).toThrow("Flag --name needs a value");
  });

  test("records the flag as the source", () => {
    expect(parseArgv(["-name", "n1"]).values.get("name")).toEqual({ text: "n1", source: "flag", setting: "--name", where: "" });
  });

  test("help and version", () => {
    for (const arg of ["-h", "--h", "-help", "--help"]) expect(parseArgv([arg]).help).toBe(true);
    expect(parseArgv(["--nmae", "x", "--help"]).help).toBe(true);
    expect(parseArgv(["--help=true"]).help).toBe(true);
    expect(parseArgv(["--version"]).version).toBe(true);
    expect(parseArgv(["-version"]).version).toBe(true);
    expect(parseArgv(["--version=false"]).version).toBe(false);
    expect(() => parseArgv(["--version=maybe"])).toThrow('Invalid value "maybe" for --version: expected true or false');
  });

  test("unknown flags are named as written", () => {
    const error = configError(() => parseArgv(["--nmae", "n1"]));
    expect(error.message).toBe(`Unknown flag "--nmae": run 'etcd --help' to list the supported flags`);
    expect(error.setting).toBe("--nmae");
    expect(configError(() => parseArgv(["-nmae=n1"])).message).toBe(`Unknown flag "-nmae": run 'etcd --help' to list the supported flags`);
    // Flags are case-sensitive, as in etcd.
    expect(() => parseArgv(["--Name", "x"])).toThrow('Unknown flag "--Name"');
  });

  test("an --experimental-* name is kept as given and marked as an alias", () => {
    expect(parseArgv(["--experimental-watch-progress-notify-interval=5s"]).values.get("experimental-watch-progress-notify-interval")).toEqual({
      text: "5s",
      source: "flag",
      setting: "--experimental-watch-progress-notify-interval",
      where: "",
      alias: "experimental-watch-progress-notify-interval",
    });
    // A boolean alias stands alone like its setting.
    expect(texts(["--experimental-initial-corrupt-check", "--name", "x"])).toEqual({ "experimental-initial-corrupt-check": "true", name: "x" });
    expect(() => parseArgv(["--experimental-no-such-thing"])).toThrow(`Unknown flag "--experimental-no-such-thing"`);
  });

  test("etcd 0.4's flags are ignored with a warning, as etcd 3 does, and take no value", () => {
    const parsed = parseArgv(["-v", "--name", "n1", "--snapshot=true"]);
    expect(texts(["-v", "--name", "n1", "--snapshot=true"])).toEqual({ name: "n1" });
    expect(parsed.warnings).toEqual([
      { msg: "flag is no longer supported; ignoring it", fields: { flag: "-v", "set-by": "-v" } },
      { msg: "flag is no longer supported; ignoring it", fields: { flag: "--snapshot", "set-by": "--snapshot" } },
    ]);
  });

  test("positional arguments are refused", () => {
    expect(() => parseArgv(["n1"])).toThrow(`Unexpected argument "n1": etcd takes only flags`);
    expect(() => parseArgv(["--name", "n1", "extra"])).toThrow(`Unexpected argument "extra"`);
    expect(() => parseArgv(["--debug", "false"])).toThrow("boolean flags take their value with '=', such as --debug=false");
    expect(() => parseArgv(["--", "x"])).toThrow(`Unexpected argument "x"`);
    expect(texts(["--name", "n1", "--"])).toEqual({ name: "n1" });
  });

  test("malformed flags", () => {
    for (const arg of ["---name", "--=x", "-="]) expect(() => parseArgv([arg])).toThrow("Malformed flag");
  });
});
