import { describe, expect, test } from "bun:test";
import { ENV_FILE_LINE, parseEnvFile } from "./env-file";
import { configError } from "./test-helpers";

const PATH = "/etc/etcd/etcd.conf";
const parse = (text: string) => parseEnvFile(text, PATH).map(({ key, value }) => [key, value]);

describe("parseEnvFile", () => {
  test("quoted, single-quoted and unquoted values", () => {
    expect(parse(`ETCD_NAME="etcd-2"\nETCD_DATA_DIR='/data/etcd'\nETCD_SNAPSHOT_COUNT=10000\n`)).toEqual([
      ["ETCD_NAME", "etcd-2"],
      ["ETCD_DATA_DIR", "/data/etcd"],
      ["ETCD_SNAPSHOT_COUNT", "10000"],
    ]);
  });

  test("comments, blank lines, export, spaces around '=' and CRLF", () => {
    const text = "# [member]\r\n\r\n   \r\n  #ETCD_WAL_DIR=\"\"\r\nexport ETCD_NAME=n1\r\nETCD_DEBUG = true # inline comment\r\n";
    expect(parse(text)).toEqual([
      ["ETCD_NAME", "n1"],
      ["ETCD_DEBUG", "true"],
    ]);
  });

  test("reports line numbers", () => {
    expect(parseEnvFile("# c\n\nETCD_NAME=x\n", PATH)).toEqual([{ key: "ETCD_NAME", value: "x", line: 3 }]);
  });

  test("quotes keep '#' and spaces; double quotes honour shell escapes", () => {
    expect(parse(`ETCD_CORS="a b#c"`)).toEqual([["ETCD_CORS", "a b#c"]]);
    expect(parse(`ETCD_NAME="say \\"hi\\" \\\\ \\$HOME \\n"`)).toEqual([["ETCD_NAME", `say "hi" \\ $HOME \\n`]]);
    expect(parse(`ETCD_NAME='it\\s "raw"'`)).toEqual([["ETCD_NAME", `it\\s "raw"`]]);
    expect(parse(`ETCD_NAME="x" # trailing comment`)).toEqual([["ETCD_NAME", "x"]]);
    expect(parse(`ETCD_WAL_DIR=""`)).toEqual([["ETCD_WAL_DIR", ""]]);
    expect(parse(`ETCD_NAME=a#b`)).toEqual([["ETCD_NAME", "a#b"]]);
  });

  test("a line without '=' names the file and line", () => {
    const error = configError(() => parseEnvFile("# header\n\nETCD_NAME=x\n\n\n\nETCD_DATA_DIR /var/lib/etcd\n", PATH));
    expect(error.message).toStartWith(`Cannot parse config file '/etc/etcd/etcd.conf' line 7: missing '='`);
    expect(error.setting).toBe("/etc/etcd/etcd.conf:7");
  });

  test.each([
    [`ETCD_NAME="x`, 'missing closing "'],
    [`ETCD_NAME='x`, "missing closing '"],
    [`ETCD_NAME="x" y`, "unexpected text"],
    [`ETCD-NAME=x`, "expected KEY=value"],
    [`1ETCD=x`, "expected KEY=value"],
  ])("rejects %p", (text, problem) => {
    const error = configError(() => parseEnvFile(text, PATH));
    expect(error.message).toStartWith(`Cannot parse config file '/etc/etcd/etcd.conf' line 1: `);
    expect(error.message).toContain(problem);
  });
});

test("ENV_FILE_LINE recognises env-file assignments", () => {
  expect(ENV_FILE_LINE.test("ETCD_NAME=x")).toBe(true);
  expect(ENV_FILE_LINE.test("# c\n  export ETCD_NAME = x")).toBe(true);
  expect(ENV_FILE_LINE.test("name: x\ndata-dir: /x")).toBe(false);
  expect(ENV_FILE_LINE.test("#ETCD_NAME=x")).toBe(false);
  expect(ENV_FILE_LINE.test("ETCD_NAME: x")).toBe(false);
});
