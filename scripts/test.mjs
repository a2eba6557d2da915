// `npm test`: stale generated code, type errors and a broken build fail before any test runs; then
// every unit and e2e test runs against the freshly compiled dist/etcd.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => `${root}node_modules/.bin/${name}`;

function step(title, cmd, args) {
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`\n${title} failed (exit ${r.status}).`);
    process.exit(r.status ?? 1);
  }
}

step("generated protobuf code is up to date", process.execPath, ["scripts/gen-proto.mjs", "--check"]);
step("type check (tsc --noEmit)", bin("tsc"), ["--noEmit", "-p", "."]);
// The build is package.json's "build" script, so tests run the binary `npm run build` makes. Why its
// flags: --bytecode, a process starts without parsing ~5 MB of JavaScript; --format=esm --splitting,
// each mode loads only its own chunks and the node: modules they import (etcd --version no longer
// loads node:http2, SQLite and the server: 79 → 38 ms).
const buildArgs = JSON.parse(readFileSync(`${root}package.json`, "utf8")).scripts.build.split(/\s+/);
if (buildArgs[0] !== "bun") throw new Error(`package.json's build script should start with bun: ${buildArgs.join(" ")}`);
step("build dist/etcd", bin("bun"), buildArgs.slice(1));

process.stdout.write("\n== tests (bun test)\n");
const extra = process.argv.slice(2);
const child = spawn(bin("bun"), ["test", "--timeout", "120000", ...(extra.length ? extra : ["src", "tests"])], {
  cwd: root,
  stdio: ["ignore", "inherit", "pipe"],
});
let summary = "";
child.stderr.on("data", (d) => {
  process.stderr.write(d);
  summary = (summary + d.toString()).slice(-4000);
});
child.on("close", (code) => {
  const count = (word) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(summary)?.[1] ?? 0);
  const passed = count("pass");
  const failed = count("fail");
  const skipped = count("skip");
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  process.exit(code === 0 && passed > 0 && failed === 0 ? 0 : code || 1);
});
