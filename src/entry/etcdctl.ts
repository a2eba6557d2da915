// `etcdctl` (the binary started under that name, or `etcd ctl …`). Loaded by src/main.ts without the
// server's modules, so a shell loop over etcdctl pays for the CLI only; the storage code that
// `snapshot status|restore` need (etcdutl's part of etcdctl) is loaded when those commands run.
import { processIo, runCtl } from "../cli/main.ts";
import type { OfflineTools } from "../cli/context.ts";
import { takeEarlySignal } from "../pkg/early-signals.ts";

export function main(argv: string[]): Promise<number> {
  // lock/elect take SIGINT as the cancellation of their context, also one that came early.
  return runCtl(argv, processIo(), offlineTools(), { takeEarlySignal });
}

/** What `etcdctl snapshot restore|status` need from the server's storage code (etcdutl's part of etcdctl). */
function offlineTools(): OfflineTools {
  return {
    async snapshotStatus(path) {
      const { snapshotStatus } = await import("../server/core/snapshot-file.ts");
      return snapshotStatus(path);
    },
    async restoreSnapshot(o) {
      // The new member's settings are checked as the server checks them at start (same messages),
      // so a restore that succeeds starts with the same flags.
      const args = ["--name", o.name, "--initial-cluster", o.initialCluster, "--initial-cluster-token", o.initialClusterToken];
      args.push("--initial-advertise-peer-urls", o.initialAdvertisePeerUrls.join(","), "--data-dir", o.dataDir);
      const [{ loadConfig }, { restoreSnapshot }] = await Promise.all([import("../config/index.ts"), import("../server/core/restore.ts")]);
      const loaded = loadConfig(args, {});
      if (loaded.kind !== "run") throw new Error("snapshot restore: unexpected help or version request");
      const c = loaded.config;
      return restoreSnapshot({
        snapshotPath: o.snapshotPath,
        dataDir: o.dataDir,
        walDir: o.walDir,
        name: c.name,
        initialCluster: c.initialCluster,
        initialClusterToken: c.initialClusterToken,
        skipHashCheck: o.skipHashCheck,
        progress: o.progress,
      });
    },
  };
}
