import { expect, test } from "bun:test";
import { envName, NOT_HONOURED, settingByEnv, settingByEnvName, settingByFlag, settingByName, SETTINGS } from "./flags";
import { helpText } from "./help";

const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

test("each field is its flag in camelCase (without experimental-), each env name its flag in ETCD_UPPER_SNAKE", () => {
  // The one exception is named after its etcd 3.6 feature gate, LeaseCheckpointPersist.
  const exceptions: Record<string, string> = { "experimental-enable-lease-checkpoint-persist": "leaseCheckpointPersist" };
  for (const s of SETTINGS) {
    expect(s.field).toBe((exceptions[s.flag] ?? camel(s.flag.replace(/^experimental-(?!enable-v2v3)/, ""))) as typeof s.field);
    expect(s.env).toBe(`ETCD_${s.flag.toUpperCase().replaceAll("-", "_")}`);
    expect(settingByFlag(s.flag)).toBe(s);
    expect(settingByEnv(s.env)).toBe(s);
  }
  expect(envName("initial-cluster-token")).toBe("ETCD_INITIAL_CLUSTER_TOKEN");
});

test("flags, aliases and fields are unique", () => {
  const names = SETTINGS.flatMap((s) => [s.flag, ...s.aliases]);
  expect(new Set(names).size).toBe(names.length);
  expect(new Set(SETTINGS.map((s) => s.field)).size).toBe(SETTINGS.length);
});

test("an alias answers to its flag name and ETCD_ name, and says it is an alias", () => {
  const plain = settingByFlag("watch-progress-notify-interval")!;
  expect(plain.aliases).toEqual(["experimental-watch-progress-notify-interval"]);
  expect(settingByName("experimental-watch-progress-notify-interval")).toEqual({ setting: plain, alias: "experimental-watch-progress-notify-interval" });
  expect(settingByEnvName("ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL")).toEqual({ setting: plain, alias: "experimental-watch-progress-notify-interval" });
  expect(settingByName("watch-progress-notify-interval")).toEqual({ setting: plain });
  // Lookups by the setting's own name do not answer to aliases.
  expect(settingByFlag("experimental-watch-progress-notify-interval")).toBeUndefined();
  // Every former experimental flag with an etcd 3.6 plain name is an alias of it.
  for (const s of SETTINGS) for (const alias of s.aliases) if (alias.startsWith("experimental-")) expect(alias).toBe(`experimental-${s.flag}`);
});

test("every plain default parses", () => {
  for (const s of SETTINGS) if (typeof s.default === "string") expect(() => s.parse(s.default as string)).not.toThrow();
});

test("boolean settings default to true or false", () => {
  for (const s of SETTINGS.filter((s) => s.boolean)) expect(["true", "false"]).toContain(s.default as string);
});

test("the list of flags not acted on gives a reason for each, and --help shows it", () => {
  const help = helpText();
  expect(NOT_HONOURED.length).toBeGreaterThan(0);
  for (const row of NOT_HONOURED) {
    expect(row.why.length).toBeGreaterThan(10);
    expect(help).toContain(row.why);
    expect(settingByFlag(row.flag)!.support.kind).toBe(row.kind);
  }
  expect(NOT_HONOURED.find((r) => r.flag === "backend-bbolt-freelist-type")).toEqual({
    flag: "backend-bbolt-freelist-type",
    aliases: ["experimental-backend-bbolt-freelist-type"],
    kind: "ignored",
    why: "bbolt tuning; etcd-ts's backend is SQLite",
  });
  expect(NOT_HONOURED.find((r) => r.flag === "proxy")?.kind).toBe("refused");
  // What etcd-ts does act on is not in the list.
  expect(NOT_HONOURED.find((r) => r.flag === "max-concurrent-streams")).toBeUndefined();
});
