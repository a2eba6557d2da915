// What an operator sees when starting the binary: version, help, and clear errors that name the fault.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { BINARY, cleanup, freePort, grpcUnary, startMember } from "./harness.ts";

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(BINARY, args, { encoding: "utf8", timeout: 15_000, env: { ...process.env, ...env } });

describe("startup", () => {
  test("--version reports the etcd API level and our own version", () => {
    const r = run(["--version"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("etcd Version: 3.5.0");
    expect(r.stdout).toMatch(/etcd-ts Version: \d+\.\d+\.\d+/);
  });

  test("--help lists etcd's flags", () => {
    const r = run(["-h"]);
    expect(r.status).toBe(0);
    for (const flag of ["--name", "--data-dir", "--listen-client-urls", "--initial-cluster", "--max-request-bytes"]) expect(r.stdout).toContain(flag);
  });

  test("an unknown flag is an error naming it; an unknown ETCD_* variable is a warning naming it, as etcd's", async () => {
    const r = run(["--nmae", "x"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('"--nmae"');
    // Kubernetes' service links put ETCD_* variables into every pod: etcd warns and starts.
    const m = await startMember({ env: { ETCD_NAMEE: "x" } });
    try {
      const warning = m.logs().split("\n").find((l) => l.includes("ETCD_NAMEE"));
      expect(warning).toContain('"level":"warn"');
      expect(warning).toContain("unrecognized environment variable");
    } finally {
      await m.stop();
      cleanup(m);
    }
  });

  test("the tutorial's etcd.conf env-file is read, and a bad line is named", () => {
    const dir = mkdtempSync(join(tmpdir(), "conf-"));
    try {
      const conf = join(dir, "etcd.conf");
      writeFileSync(conf, '# [member]\nETCD_NAME="etcd-2"\nETCD_SNAPSHOT_COUNT=abc\n');
      const r = run(["--config-file", conf]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("ETCD_SNAPSHOT_COUNT");
      expect(r.stderr).toContain("abc");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a data dir that cannot be created is a startup error naming it and the user", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bad-data-"));
    try {
      const file = join(dir, "not-a-dir");
      writeFileSync(file, "x");
      const port = await freePort();
      const r = run(["--data-dir", join(file, "data"), "--listen-client-urls", `http://127.0.0.1:${port}`, "--advertise-client-urls", `http://127.0.0.1:${port}`]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(join(file, "data"));
      expect(r.stderr).toMatch(/as user '[^']+'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a client port in use is a startup error naming the URL", async () => {
    const m = await startMember();
    try {
      const r = run(["--data-dir", join(m.dataDir, "other"), "--listen-client-urls", m.clientUrl, "--advertise-client-urls", m.clientUrl]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`Cannot listen on ${m.clientUrl}`);
    } finally {
      await m.stop();
      cleanup(m);
    }
  });

  test("a peer port in use is a startup error naming the setting", async () => {
    const m = await startMember();
    try {
      const peerUrl = /"--listen-peer-urls",\s*"([^"]+)"/.exec(JSON.stringify(m.proc.spawnargs))![1];
      const port = await freePort();
      const r = run(["--data-dir", join(m.dataDir, "other"), "--listen-client-urls", `http://127.0.0.1:${port}`, "--advertise-client-urls", `http://127.0.0.1:${port}`, "--listen-peer-urls", peerUrl]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("cannot listen for peers");
      expect(r.stderr).toContain(`--listen-peer-urls ${peerUrl}`);
    } finally {
      await m.stop();
      cleanup(m);
    }
  });

  test("corruption inside the WAL stops startup with the file and offset; data survives a clean restart", async () => {
    const m = await startMember();
    const dataDir = m.dataDir;
    try {
      for (let i = 0; i < 20; i++) {
        const put = etcdserverpb.PutRequest.encode({ key: Buffer.from(`k${i}`), value: Buffer.from("v".repeat(50)) }).finish();
        expect((await grpcUnary(m, "/etcdserverpb.KV/Put", put)).status).toBe(0);
      }
      await m.stop();
      // Restart cleanly first: the member comes back with the same data dir.
      const again = await startMember({ dataDir });
      const got = await grpcUnary(again, "/etcdserverpb.KV/Range", etcdserverpb.RangeRequest.encode({ key: Buffer.from("k"), rangeEnd: Buffer.from("l") }).finish());
      expect(Number(etcdserverpb.RangeResponse.decode(got.body).count)).toBe(20);
      await again.stop();
      const walDir = join(dataDir, "member", "wal");
      const seg = readdirSync(walDir).filter((f) => f.endsWith(".wal")).sort()[0];
      const path = join(walDir, seg);
      const bytes = readFileSync(path);
      expect(bytes.length).toBeGreaterThan(200);
      // Flip a byte in the middle of the first records, well before the tail.
      bytes[120] ^= 0xff;
      writeFileSync(path, bytes);
      const port = await freePort();
      const r = run(["--data-dir", dataDir, "--listen-client-urls", `http://127.0.0.1:${port}`, "--advertise-client-urls", `http://127.0.0.1:${port}`]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(path);
      expect(r.stderr).toMatch(/offset/i);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("the server runs with its allocator settings in the process it was started as; a value the user set is kept", async () => {
    const environ = (pid: number) => new Set(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0"));
    const tuned = await startMember();
    const kept = await startMember({ env: { MIMALLOC_PURGE_HOLES: "1" } });
    try {
      // Same PID as spawned: the re-exec replaced the image, so systemd and `kill` still hold the server.
      expect(environ(tuned.proc.pid!).has("MIMALLOC_PURGE_HOLES=0")).toBe(true);
      expect(environ(kept.proc.pid!).has("MIMALLOC_PURGE_HOLES=1")).toBe(true);
      expect(readFileSync(`/proc/${tuned.proc.pid}/cmdline`, "utf8").split("\0")).toContain(tuned.dataDir);
    } finally {
      for (const m of [tuned, kept]) {
        await m.stop();
        cleanup(m);
      }
    }
  });
});
