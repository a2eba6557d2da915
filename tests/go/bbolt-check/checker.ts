// Builds and runs tests/go/bbolt-check (Go's own bbolt) for the tests of src/snap/bbolt, and prints
// our reader's view of a file in the same "dump" format so the two can be compared line for line.
//
// Offline build, as tests/e2e/go-client.test.ts does: GOPATH mode over Debian's Go sources
// (golang-etcd-server-dev pulls in go.etcd.io/bbolt and golang.org/x/sys), nothing fetched.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { ReadBucket } from "../../../src/snap/bbolt/model.ts";
import { BoltReader, type BucketRef } from "../../../src/snap/bbolt/reader.ts";

const DEBIAN_GOCODE = "/usr/share/gocode";
const BBOLT_SRC = join(DEBIAN_GOCODE, "src/go.etcd.io/bbolt");

/** requireTool's rule: CI must run these tests; a developer without Go sees them skipped with a reason. */
export function requireBboltChecker(): boolean {
  const missing = [
    ...(spawnSync("go", ["version"], { encoding: "utf8" }).status === 0 ? [] : ["go (apt-get install -y golang-go)"]),
    ...(existsSync(BBOLT_SRC) ? [] : [`${BBOLT_SRC} (apt-get install -y golang-etcd-server-dev)`]),
  ];
  if (missing.length === 0) return true;
  if (process.env.CI === "true") throw new Error(`the bbolt checker needs, when CI=true: ${missing.join(", ")}`);
  console.warn(`skipping the Go bbolt checks: missing ${missing.join(", ")}`);
  return false;
}

let built: string | undefined;

/** Compiles the checker (compiled packages are cached across runs by GOCACHE). */
export function checkerBinary(): string {
  if (built) return built;
  // One binary per version of main.go, beside Go's build cache: reused across runs, never piling up.
  const source = readFileSync(join(import.meta.dir, "main.go"));
  const out = join(tmpdir(), "etcd-ts-bbolt-check", createHash("sha256").update(source).digest("hex").slice(0, 16), "bbolt-check");
  if (existsSync(out)) return (built = out);
  mkdirSync(dirname(out), { recursive: true });
  const r = spawnSync("go", ["build", "-o", out, "."], {
    cwd: import.meta.dir,
    encoding: "utf8",
    env: {
      ...process.env,
      GO111MODULE: "off",
      GOPATH: DEBIAN_GOCODE,
      GOPROXY: "off",
      GOFLAGS: "",
      CGO_ENABLED: "0",
      GOCACHE: process.env.GOCACHE ?? join(tmpdir(), "etcd-ts-go-build-cache"),
    },
  });
  if (r.status !== 0) throw new Error(`go build of bbolt-check exited ${r.status}:\n${r.stdout}${r.stderr}`);
  built = out;
  return out;
}

/** Runs the checker; fails with its stderr unless it succeeds. */
export function runChecker(args: string[]): string {
  const r = spawnSync(checkerBinary(), args, { encoding: "utf8", maxBuffer: 1 << 30, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`bbolt-check ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** Our reader's view of a file in bbolt-check's dump format (without the meta line). */
export function ourDump(reader: BoltReader): string[] {
  const lines: string[] = [];
  const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
  const walk = (path: string, ref: BucketRef, depth: number) => {
    lines.push(`B ${path} ${ref.sequence}`);
    for (const e of reader.entries(ref)) {
      if (e.isBucket) walk(`${path}/${hex(e.key)}`, reader.open(e), depth + 1);
      else lines.push(`K ${path} ${hex(e.key)} ${hex(e.value)}`);
    }
  };
  for (const e of reader.entries(reader.root)) walk(hex(e.key), reader.open(e), 1);
  return lines;
}

/** The checker's dump lines minus its first (meta) and last ("check ok") lines, after checking both. */
export function goDump(file: string): { meta: string; lines: string[] } {
  const lines = runChecker(["dump", file]).trimEnd().split("\n");
  if (lines.at(-1) !== "check ok") throw new Error(`bbolt-check dump did not end with "check ok":\n${lines.slice(-5).join("\n")}`);
  return { meta: lines[0], lines: lines.slice(1, -1) };
}

/** The same dump of a bucket tree given to the writer (what both readers must see in the file). */
export function modelDump(root: ReadBucket): string[] {
  const lines: string[] = [];
  const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
  const walk = (path: string, b: ReadBucket) => {
    lines.push(`B ${path} ${b.sequence}`);
    for (const e of b.entries) {
      if ("bucket" in e) walk(`${path}/${hex(e.key)}`, e.bucket);
      else lines.push(`K ${path} ${hex(e.key)} ${hex(e.value)}`);
    }
  };
  for (const e of root.entries) if ("bucket" in e) walk(hex(e.key), e.bucket);
  return lines;
}
