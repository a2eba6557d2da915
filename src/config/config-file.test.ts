import { afterAll, describe, expect, test } from "bun:test";
import { detectFormat, parseConfigFile, readConfigFile } from "./config-file";
import { configError, removeConfigs, writeConfig } from "./test-helpers";

afterAll(removeConfigs);

const texts = (values: ReadonlyMap<string, { text: string }>) => Object.fromEntries([...values].map(([flag, raw]) => [flag, raw.text]));

describe("detectFormat", () => {
  test("any ETCD_X= line makes an env-file", () => {
    expect(detectFormat(`ETCD_NAME="n1"`)).toBe("env");
    expect(detectFormat(`# comment\n\nexport ETCD_NAME=n1`)).toBe("env");
    expect(detectFormat(`  ETCD_DATA_DIR = /x`)).toBe("env");
  });

  test("everything else is YAML", () => {
    expect(detectFormat(`name: n1\ndata-dir: /x`)).toBe("yaml");
    expect(detectFormat(`# ETCD_NAME=n1 is commented out\nname: n1`)).toBe("yaml");
    expect(detectFormat(``)).toBe("yaml");
  });
});

describe("env-file config", () => {
  test("maps ETCD_ keys to settings, with file and line as the source", () => {
    const values = parseConfigFile(`ETCD_NAME="n1"\nETCD_HEARTBEAT_INTERVAL=200\n`, "/x/etcd.conf");
    expect(texts(values)).toEqual({ name: "n1", "heartbeat-interval": "200" });
    expect(values.get("heartbeat-interval")).toEqual({
      text: "200",
      source: "file",
      setting: "/x/etcd.conf:2",
      where: " in config file '/x/etcd.conf' line 2",
    });
  });

  test("empty values count as unset, like empty environment variables", () => {
    expect(texts(parseConfigFile(`ETCD_NAME=n1\nETCD_WAL_DIR=""\n`, "/x"))).toEqual({ name: "n1" });
  });

  test("etcdctl's variables and ETCD_UNSUPPORTED_ARCH are ignored", () => {
    expect(texts(parseConfigFile(`ETCD_NAME=n1\nETCDCTL_API=3\nETCD_UNSUPPORTED_ARCH=arm\n`, "/x"))).toEqual({ name: "n1" });
  });

  test("unknown keys name the file and line", () => {
    const error = configError(() => parseConfigFile(`ETCD_NAME=n1\n\nETCD_NMAE=n2\n`, "/etc/etcd/etcd.conf"));
    expect(error.message).toBe(
      `Unknown setting "ETCD_NMAE" in config file '/etc/etcd/etcd.conf' line 3: run 'etcd --help' to list the supported settings`,
    );
    expect(error.setting).toBe("/etc/etcd/etcd.conf:3");
    expect(() => parseConfigFile(`ETCD_NAME=n1\nGOMAXPROCS=4\n`, "/x")).toThrow(`Unknown setting "GOMAXPROCS" in config file '/x' line 2`);
    expect(() => parseConfigFile(`ETCD_EXPERIMENTAL_NO_SUCH_THING=5s\n`, "/x")).toThrow(`Unknown setting "ETCD_EXPERIMENTAL_NO_SUCH_THING"`);
    // Unlike the environment, a config file is written for etcd alone: etcd 0.4's names are unknown here.
    expect(() => parseConfigFile(`ETCD_SNAPSHOT=true\n`, "/x")).toThrow(`Unknown setting "ETCD_SNAPSHOT"`);
  });

  test("an --experimental-* name is its setting's alias, recorded as such", () => {
    expect(parseConfigFile(`ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL=5s\n`, "/x").get("experimental-watch-progress-notify-interval")).toEqual({
      text: "5s",
      source: "file",
      setting: "/x:1",
      where: " in config file '/x' line 1",
      alias: "experimental-watch-progress-notify-interval",
    });
  });

  test("a config file cannot chain to another", () => {
    expect(() => parseConfigFile(`ETCD_CONFIG_FILE=/other\n`, "/x")).toThrow("cannot name another config file");
  });
});

describe("YAML config", () => {
  test("keys are flag names; YAML scalars become setting text", () => {
    const values = parseConfigFile(
      [
        "# etcd.conf.yml",
        "name: n1",
        "data-dir: /var/lib/etcd",
        "heartbeat-interval: 200",
        "debug: true",
        "listen-client-urls: http://10.0.0.1:2379,http://127.0.0.1:2379",
        "cors:",
        "  - https://a.example",
        "  - https://b.example",
        "wal-dir:",
        "initial-cluster-state: 'existing'",
      ].join("\n"),
      "/x/etcd.yml",
    );
    expect(texts(values)).toEqual({
      name: "n1",
      "data-dir": "/var/lib/etcd",
      "heartbeat-interval": "200",
      debug: "true",
      "listen-client-urls": "http://10.0.0.1:2379,http://127.0.0.1:2379",
      cors: "https://a.example,https://b.example",
      "initial-cluster-state": "existing",
    });
    expect(values.get("heartbeat-interval")).toMatchObject({ setting: "/x/etcd.yml:heartbeat-interval", where: " in config file '/x/etcd.yml' line 4" });
  });

  test("an empty or comment-only file sets nothing", () => {
    expect(parseConfigFile("", "/x").size).toBe(0);
    expect(parseConfigFile("# nothing yet\n", "/x").size).toBe(0);
  });

  test("unknown keys are named", () => {
    const error = configError(() => parseConfigFile("name: n1\nnmae: n2\n", "/x/etcd.yml"));
    expect(error.message).toBe(`Unknown key "nmae" in config file '/x/etcd.yml' line 2: run 'etcd --help' to list the supported settings`);
    expect(error.setting).toBe("/x/etcd.yml:nmae");
    expect(() => parseConfigFile("experimental-no-such-thing: true\n", "/x")).toThrow(`Unknown key "experimental-no-such-thing"`);
    expect(() => parseConfigFile("config-file: /y\n", "/x")).toThrow("cannot name another config file");
  });

  test("structural problems", () => {
    expect(() => parseConfigFile("- a\n- b\n", "/x")).toThrow("expected a mapping of setting names to values");
    expect(() => parseConfigFile("name: [a, b]\n", "/x")).toThrow("expected a single value, not a list");
    expect(() => parseConfigFile("name:\n  first: a\n", "/x")).toThrow("expected a single value or a list of values");
    expect(() => parseConfigFile("name: a\nname: b\n", "/x")).toThrow("Cannot parse config file '/x' line 2");
    const error = configError(() => parseConfigFile("name: n1\ndata-dir: [unclosed\n", "/x"));
    expect(error.message).toStartWith("Cannot parse config file '/x' line ");
    expect(error.message).toContain("fix the YAML syntax");
  });
});

describe("readConfigFile", () => {
  test("reads from disk", () => {
    expect(texts(readConfigFile(writeConfig("name: from-disk\n", "etcd.yml")))).toEqual({ name: "from-disk" });
  });

  test("a missing file says which setting pointed at it", () => {
    const error = configError(() => readConfigFile("/nonexistent/etcd.conf"));
    expect(error.message).toBe(
      "Cannot read config file '/nonexistent/etcd.conf': no such file; check --config-file (ETCD_CONFIG_FILE)",
    );
    expect(error.setting).toBe("/nonexistent/etcd.conf");
  });
});
