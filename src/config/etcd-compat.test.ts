// Every server flag of real etcd releases is accepted, on the command line, as an ETCD_* variable
// and as a YAML key. The flag lists were extracted by a program (testdata/etcd-flag-names.ts) from
// etcd 3.4's --help and from the Go sources of etcd 3.4, 3.5, 3.6 and 3.7; where etcd 3.4 is
// installed, the 3.4 lists are extracted again and compared.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfigFile } from "./config-file";
import { LEGACY_IGNORED_FLAGS, settingByName, SETTINGS } from "./flags";
import { loadConfig } from "./load";
import { flagsFromGoSource, flagsFromHelp, readFlagList } from "./testdata/etcd-flag-names";
import { load, removeConfigs, writeConfig } from "./test-helpers";

afterAll(removeConfigs);

const DATA = join(import.meta.dir, "testdata");
const LISTS = {
  "3.4 --help": readFlagList(join(DATA, "etcd-v3.4.23-help.txt")),
  "3.4 source": readFlagList(join(DATA, "etcd-v3.4.23-source.txt")),
  "3.5 source": readFlagList(join(DATA, "etcd-v3.5.33-source.txt")),
  "3.6 source": readFlagList(join(DATA, "etcd-v3.6.14-source.txt")),
  "3.7 source": readFlagList(join(DATA, "etcd-v3.7.1-source.txt")),
};

/** Values for the settings whose default is computed (and so has no text to feed back). */
const SAMPLE: Record<string, string> = { "data-dir": "/var/lib/etcd", "initial-cluster": "default=http://localhost:2380" };

/** Set by every case, since an explicit --listen-client-urls needs it (as in etcd). */
const ADVERTISE = "http://localhost:2379";

/** A command line that gives `name` a valid value: its setting's default, as etcd's --help shows it. */
function argvFor(name: string): string[] {
  if (name === "version") return ["--version"];
  if (LEGACY_IGNORED_FLAGS.has(name)) return [`-${name}`];
  if (name === "config-file") return [`--config-file=${writeConfig("# nothing set\n", "etcd.yml")}`];
  const found = settingByName(name);
  if (found === undefined) throw new Error(`etcd-ts has no setting named ${name}`);
  const text = typeof found.setting.default === "string" ? found.setting.default : SAMPLE[found.setting.flag];
  return [`--${name}=${text}`];
}

/** Every name of every list, so each is loaded once. */
const ALL = [...new Set(Object.values(LISTS).flat())].sort();

describe.each(Object.entries(LISTS))("etcd %s flags", (_, names) => {
  test("the list has the flags every version shares, and etcd-ts knows each name", () => {
    expect(names.length).toBeGreaterThan(70);
    for (const name of ["name", "data-dir", "listen-client-urls", "initial-cluster", "auto-compaction-retention"]) expect(names).toContain(name);
    const known = (name: string) => name === "version" || LEGACY_IGNORED_FLAGS.has(name) || settingByName(name) !== undefined;
    expect(names.filter((name) => !known(name))).toEqual([]);
  });
});

test("every flag of etcd 3.4-3.7 is accepted on the command line", () => {
  for (const name of ALL) {
    const result = loadConfig([`--advertise-client-urls=${ADVERTISE}`, ...argvFor(name)], {});
    expect([name, result.kind]).toEqual([name, name === "version" ? "version" : "run"]);
  }
});

test("every setting of etcd 3.4-3.7 is accepted as an ETCD_* variable, without a warning, and as a YAML key", () => {
  for (const name of ALL) {
    if (name === "version" || name === "config-file" || LEGACY_IGNORED_FLAGS.has(name)) continue;
    const [arg] = argvFor(name);
    const value = arg.slice(arg.indexOf("=") + 1);
    const env = `ETCD_${name.toUpperCase().replaceAll("-", "_")}`;
    const result = loadConfig([], { ETCD_ADVERTISE_CLIENT_URLS: ADVERTISE, [env]: value });
    expect([env, result.kind === "run" && result.warnings]).toEqual([env, []]);
    if (value !== "") expect([name, parseConfigFile(`${name}: '${value}'\n`, "/x.yml").size]).toEqual([name, 1]);
  }
});

test("every name etcd-ts accepts is a flag of some etcd release (none made up)", () => {
  const etcd = new Set(Object.values(LISTS).flat());
  for (const s of SETTINGS) for (const name of [s.flag, ...s.aliases]) expect([name, etcd.has(name)]).toEqual([name, true]);
  for (const name of LEGACY_IGNORED_FLAGS) expect([name, etcd.has(name)]).toEqual([name, true]);
});

test("etcd 3.7 dropped the --experimental-* names that etcd-ts still accepts as aliases", () => {
  expect(LISTS["3.7 source"].filter((n) => n.startsWith("experimental-"))).toEqual([]);
  expect(LISTS["3.6 source"]).toContain("experimental-watch-progress-notify-interval");
  expect(LISTS["3.6 source"]).toContain("watch-progress-notify-interval");
});

const ETCD = "/usr/bin/etcd";
test.skipIf(!existsSync(ETCD))("live: the installed etcd 3.4's --help lists the stored flags", () => {
  const help = spawnSync(ETCD, ["--help"], { encoding: "utf8" });
  const text = help.stdout + help.stderr;
  expect(text).toContain("--listen-client-urls");
  expect(flagsFromHelp(text)).toEqual(LISTS["3.4 --help"]);
});

const ETCD_34_SOURCE = "/usr/share/gocode/src/go.etcd.io/etcd/etcdmain/config.go";
test.skipIf(!existsSync(ETCD_34_SOURCE))("live: etcd 3.4's source registers the stored flags", () => {
  expect(flagsFromGoSource(readFileSync(ETCD_34_SOURCE, "utf8"))).toEqual(LISTS["3.4 source"]);
});

test("the extractor finds names in nested calls, feature gates and the ignored list", () => {
  const go = [
    `fs.Var(`,
    `  flags.NewUniqueURLsWithExceptions(DefaultListenPeerURLs, ""),`,
    `  "listen-peer-urls",`,
    `  "List of URLs to listen on for peer traffic.",`,
    `)`,
    'fs.BoolVar(&cfg.x, "pre-vote", cfg.PreVote, `uses "quotes"`)',
    `ServerFeatureGateFlagName = "feature-gates"`,
    `cfg.ServerFeatureGate.(featuregate.MutableFeatureGate).AddFlag(fs, ServerFeatureGateFlagName)`,
    `ignored = []string{`,
    `  "snapshot",`,
    `  "test.coverprofile",`,
    `}`,
  ].join("\n");
  expect(flagsFromGoSource(go)).toEqual(["feature-gates", "listen-peer-urls", "pre-vote", "snapshot"]);
  expect(flagsFromHelp("Member:\n  --name 'default'\n    Human-readable name.\n  --data-dir '${name}.etcd'\n")).toEqual(["data-dir", "name"]);
});

describe("kubeadm's etcd static pod", () => {
  // The files are only checked for being readable here.
  const pki = (name: string) => writeConfig("-----BEGIN CERTIFICATE-----\n", name);
  const files = { ca: pki("ca.crt"), serverCrt: pki("server.crt"), serverKey: pki("server.key"), peerCrt: pki("peer.crt"), peerKey: pki("peer.key") };
  const common = [
    "--advertise-client-urls=https://10.0.0.5:2379",
    `--cert-file=${files.serverCrt}`,
    "--client-cert-auth=true",
    "--data-dir=/var/lib/etcd",
    "--initial-advertise-peer-urls=https://10.0.0.5:2380",
    "--initial-cluster=cp1=https://10.0.0.5:2380",
    `--key-file=${files.serverKey}`,
    "--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.5:2379",
    "--listen-metrics-urls=http://127.0.0.1:2381",
    "--listen-peer-urls=https://10.0.0.5:2380",
    "--name=cp1",
    `--peer-cert-file=${files.peerCrt}`,
    "--peer-client-cert-auth=true",
    `--peer-key-file=${files.peerKey}`,
    `--peer-trusted-ca-file=${files.ca}`,
    "--snapshot-count=10000",
    `--trusted-ca-file=${files.ca}`,
  ];

  test("kubeadm v1.3x for etcd 3.5 (--experimental-* flags) loads", () => {
    const result = loadConfig([...common, "--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s"], {
      // A Service named etcd in kube-system gives pods these through service links.
      ETCD_PORT: "tcp://10.96.0.20:2379",
      ETCD_SERVICE_HOST: "10.96.0.20",
    });
    if (result.kind !== "run") throw new Error("expected a run config");
    expect(result.config).toMatchObject({ name: "cp1", initialCorruptCheck: true, watchProgressNotifyInterval: 5_000, snapshotCount: 10_000, clientCertAuth: true });
    expect(result.config.featureGates.get("InitialCorruptCheck")).toBe(true);
    expect(result.warnings.map((w) => w.fields["environment-variable"])).toEqual(["ETCD_PORT=tcp://10.96.0.20:2379", "ETCD_SERVICE_HOST=10.96.0.20"]);
  });

  test("kubeadm for etcd 3.6 (--feature-gates and plain names) loads to the same config", () => {
    const old = load([...common, "--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s"]);
    const now = load([...common, "--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s"]);
    expect({ ...now, sources: null, featureGates: [...now.featureGates] }).toEqual({ ...old, sources: null, featureGates: [...old.featureGates] });
    expect(now.initialCorruptCheck).toBe(true);
    expect(now.sources.initialCorruptCheck).toBe("flag");
  });
});
