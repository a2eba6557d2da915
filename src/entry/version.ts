// What `etcd --version` prints: the etcd API level we implement first (scripts parse that line), our
// own version beside it. Apart from entry/etcd.ts so that main.ts can answer a bare --version without
// loading the server's code, which is most of that call's time.
import pkg from "../../package.json" with { type: "json" };
import { ETCD_API_VERSION } from "../server/core/version.ts";

export function versionText(): string {
  return (
    `etcd Version: ${ETCD_API_VERSION}\netcd-ts Version: ${pkg.version}\n` +
    `Bun Version: ${process.versions.bun ?? "n/a"}\nOS/Arch: ${process.platform}/${process.arch}\n`
  );
}

/** `etcd --version` (or -version) and nothing else: the answer needs no configuration. */
export function onlyVersionAsked(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === "--version" || argv[0] === "-version");
}
