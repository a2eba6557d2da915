// The tutorial warns that the service user needs rights on its directories: when it has none, the
// server says which path and which user, and how to fix it.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, freePort } from "./harness.ts";

const root = mkdtempSync(join(tmpdir(), "perm-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0 && spawnSync("setpriv", ["--version"]).status === 0;

test.if(asRoot)("a data directory the user cannot write: the error names the path and the user", async () => {
  chmodSync(root, 0o755);
  const data = join(root, "data");
  mkdirSync(data, { mode: 0o700 }); // owned by root: nobody may not enter it
  const bin = join(root, "etcd");
  copyFileSync(BINARY, bin);
  chmodSync(bin, 0o755);
  const [c, p] = [await freePort(), await freePort()];
  const r = spawnSync("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", bin, "--data-dir", data,
    "--listen-client-urls", `http://127.0.0.1:${c}`, "--advertise-client-urls", `http://127.0.0.1:${c}`, "--listen-peer-urls", `http://127.0.0.1:${p}`],
    { encoding: "utf8", timeout: 20_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`Cannot use data directory '${data}' as user 'nobody'`);
  expect(r.stderr).toContain(`chown -R nobody '${data}'`);
});
