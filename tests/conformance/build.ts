// Builds etcd 3.4's e2e test binary from Debian's golang-etcd-server-dev sources, offline (GOPATH
// mode, nothing fetched), and reuses it while Go and the package's sources are unchanged.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const GOPATH = "/usr/share/gocode";
export const ETCD_SRC = join(GOPATH, "src/go.etcd.io/etcd");
export const E2E_SRC = join(ETCD_SRC, "tests/e2e");
export const E2E_PACKAGE = "go.etcd.io/etcd/tests/e2e";

const GO_ENV = { GOPATH, GO111MODULE: "off", GOPROXY: "off", GOFLAGS: "" };

/** What the binary depends on: the Go version and every source file of the package (name, size, mtime). */
function cacheKey(): string {
  const go = spawnSync("go", ["version"], { encoding: "utf8" });
  if (go.status !== 0) throw new Error("'go version' failed: install Go (apt-get install -y golang-go) to build etcd 3.4's e2e suite");
  const h = createHash("sha256").update(go.stdout.trim());
  // The package's own files, and version.go, whose change means a new etcd package was installed.
  const files = readdirSync(E2E_SRC).sort().map((f) => join(E2E_SRC, f)).concat(join(ETCD_SRC, "version/version.go"));
  for (const f of files) {
    const st = statSync(f);
    h.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return h.digest("hex");
}

/**
 * The path of a current e2e.test in `cacheDir`, built first if missing or stale. Progress goes to
 * `log` (a build takes about a minute).
 */
export async function ensureE2eBinary(cacheDir: string, log: (line: string) => void): Promise<string> {
  if (!existsSync(E2E_SRC)) {
    throw new Error(`${E2E_SRC} is missing: install etcd 3.4's sources (apt-get install -y golang-etcd-server-dev)`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const binary = join(cacheDir, "e2e.test");
  const keyFile = `${binary}.key`;
  const key = cacheKey();
  if (existsSync(binary) && existsSync(keyFile) && readFileSync(keyFile, "utf8") === key) {
    log(`e2e.test: up to date (${binary})`);
    return binary;
  }
  const partial = `${binary}.partial`;
  rmSync(partial, { force: true });
  log(`e2e.test: building ${E2E_PACKAGE} offline (GOPATH=${GOPATH}; about a minute on 2 cores)`);
  const started = Date.now();
  const ticker = setInterval(() => log(`e2e.test: still building (${Math.round((Date.now() - started) / 1000)} s)`), 15_000);
  try {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn("go", ["test", "-c", "-o", partial, E2E_PACKAGE], {
        cwd: cacheDir,
        env: { ...process.env, ...GO_ENV },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, output }));
    });
    if (code !== 0 || !existsSync(partial)) throw new Error(`building e2e.test failed (exit ${code}):\n${output.trim()}`);
  } finally {
    clearInterval(ticker);
  }
  renameSync(partial, binary);
  writeFileSync(keyFile, key);
  log(`e2e.test: built in ${Math.round((Date.now() - started) / 1000)} s`);
  return binary;
}

/** The test names the binary holds, in its order. */
export function listTests(e2eBinary: string): string[] {
  const r = spawnSync(e2eBinary, ["-test.list", ".*"], { cwd: E2E_SRC, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${e2eBinary} -test.list failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => /^Test\w*$/.test(l));
}
