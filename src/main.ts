#!/usr/bin/env bun
// The entry point. It loads only the code of the mode it runs: started as etcdctl (a link named
// etcdctl, or `etcd ctl …`) it never evaluates the server's modules, which is most of the start-up
// time of a short etcdctl call. Its first import records signals that arrive meanwhile
// (pkg/early-signals.ts). A bare `etcd --version` is answered here without loading any mode. The
// server first makes sure of its allocator settings (entry/allocator-env.ts), which may re-exec it.
import { takeEarlySignal } from "./pkg/early-signals.ts";
import { basename } from "node:path";
import { onlyVersionAsked, versionText } from "./entry/version.ts";
import { execWithServerAllocatorEnv } from "./entry/allocator-env.ts";

// A compiled binary sees the name it was started as (a symlink etcdctl -> etcd) in argv0 only.
const argv = process.argv.slice(2);
const invokedAs = basename(process.argv0 ?? "");
const run: Promise<number> =
  invokedAs !== "etcdctl" && onlyVersionAsked(argv)
    ? Promise.resolve(process.stdout.write(versionText())).then(() => 0)
    : invokedAs === "etcdctl" || argv[0] === "ctl"
    ? import("./entry/etcdctl.ts").then((m) => m.main(invokedAs === "etcdctl" ? argv : argv.slice(1)))
    : (execWithServerAllocatorEnv(), import("./entry/etcd.ts").then((m) => m.main(argv)));

run.then(
  (code) => process.exit(code),
  (err) => {
    // A failure before any mode took the early signals must not leave them swallowed.
    takeEarlySignal();
    process.stderr.write(`etcd: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
