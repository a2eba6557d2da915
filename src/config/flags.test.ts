import { expect, test } from "bun:test";
import { envName, settingByEnv, settingByFlag, SETTINGS } from "./flags";

const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

test("each field is its flag in camelCase, each env name its flag in ETCD_UPPER_SNAKE", () => {
  for (const s of SETTINGS) {
    expect(s.field).toBe(camel(s.flag) as typeof s.field);
    expect(s.env).toBe(`ETCD_${s.flag.toUpperCase().replaceAll("-", "_")}`);
    expect(settingByFlag(s.flag)).toBe(s);
    expect(settingByEnv(s.env)).toBe(s);
  }
  expect(envName("initial-cluster-token")).toBe("ETCD_INITIAL_CLUSTER_TOKEN");
});

test("flags are unique", () => {
  expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length);
});

test("every plain default parses", () => {
  for (const s of SETTINGS) if (typeof s.default === "string") expect(() => s.parse(s.default as string)).not.toThrow();
});

test("boolean settings default to true or false", () => {
  for (const s of SETTINGS.filter((s) => s.boolean)) expect(["true", "false"]).toContain(s.default as string);
});
