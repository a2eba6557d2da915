// The Go load generator (bench/go/loadgen, on etcd's own clientv3 3.4): built once into .bench/go/ and
// run like bench/load.ts. runGoLoad has runLoad's signature, so a phase can take either.
//
// The build is offline, as tests/e2e/go-client.test.ts builds the tutorial's client: GOPATH mode over
// Debian's Go sources (golang-etcd-server-dev holds clientv3 and its golang-*-dev dependencies),
// nothing fetched.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadRunner, type RunLoad } from "./loadgen.ts";
import { BENCH, ROOT, which } from "./procs.ts";
import { log } from "./report.ts";

const SRC = path.join(BENCH, "go", "loadgen");
const BINARY = path.join(ROOT, ".bench", "go", "loadgen");
const DEBIAN_GOCODE = "/usr/share/gocode";
const DEBIAN_CLIENTV3 = path.join(DEBIAN_GOCODE, "src/go.etcd.io/etcd/clientv3");

/** Why the Go toolchain or clientv3 is missing (with the package to install), or null if both are there. */
function missingToolchain(): string | null {
  const missing = [
    ...(which("go") ? [] : ["'go' (apt-get install -y golang-go)"]),
    ...(fs.existsSync(DEBIAN_CLIENTV3) ? [] : [`${DEBIAN_CLIENTV3} (apt-get install -y golang-etcd-server-dev)`]),
  ];
  return missing.length ? `the Go load generator needs ${missing.join(" and ")}` : null;
}

function newestSourceMtime(): number {
  let newest = 0;
  for (const f of fs.readdirSync(SRC)) if (f.endsWith(".go")) newest = Math.max(newest, fs.statSync(path.join(SRC, f)).mtimeMs);
  return newest;
}

let built: string | null = null;

/**
 * The path of the built Go load generator: built now unless an earlier call did, or the binary is
 * newer than its sources. Throws naming the missing package, or with the compiler's output.
 */
export function goLoadgenBinary(): string {
  if (built) return built;
  if (fs.existsSync(BINARY) && fs.statSync(BINARY).mtimeMs > newestSourceMtime()) return (built = BINARY);
  const missing = missingToolchain();
  if (missing) throw new Error(missing);
  fs.mkdirSync(path.dirname(BINARY), { recursive: true });
  // Built under a temporary name and renamed, so a failed or interrupted build leaves no binary that
  // looks newer than its sources.
  const tmp = `${BINARY}.${process.pid}.tmp`;
  const started = Date.now();
  const r = spawnSync("go", ["build", "-o", tmp, "."], {
    cwd: SRC,
    encoding: "utf8",
    env: {
      ...process.env,
      GO111MODULE: "off", // GOPATH mode: imports are directories on GOPATH; no go.mod, no downloads
      GOPATH: `${path.join(ROOT, "tests/go/gopath")}:${DEBIAN_GOCODE}`,
      GOPROXY: "off",
      GOFLAGS: "",
      CGO_ENABLED: "0",
      // Shared with the Go client test: a cold build of clientv3 and grpc takes ~30 s, a warm one ~1 s.
      GOCACHE: process.env.GOCACHE ?? path.join(os.tmpdir(), "etcd-ts-go-build-cache"),
    },
  });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`building the Go load generator (go build in ${SRC}) failed with exit code ${r.status}:\n${r.stdout}${r.stderr}`);
  }
  fs.renameSync(tmp, BINARY);
  log(`built the Go load generator (clientv3 3.4) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${path.relative(ROOT, BINARY)}`);
  return (built = BINARY);
}

/** runLoad of loadgen.ts with the Go load generator (built on first use) instead of bench/load.ts. */
export const runGoLoad: RunLoad = (...args) => loadRunner([goLoadgenBinary()])(...args);
