// The README's runbook for a lost quorum, as an operator would follow it: two of three members are
// gone for good; a snapshot is taken from the survivor (no leader needed), the survivor is stopped,
// the snapshot is restored as a new one-member cluster, which serves every key and grows back by
// member add.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, freePort, type Member, startMember } from "./harness.ts";

const root = mkdtempSync(join(tmpdir(), "quorum-loss-"));
const started: Member[] = [];
afterAll(async () => {
  for (const m of started) await m.stop("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

const ctl = (endpoint: string, args: string[]) => {
  const r = spawnSync(BINARY, ["ctl", "--endpoints", endpoint, "--command-timeout", "3s", ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const url = (p: number) => `http://127.0.0.1:${p}`;

test("snapshot from the survivor, restore as a new cluster, add members back", async () => {
  const names = ["a", "b", "c"];
  const peers = [await freePort(), await freePort(), await freePort()];
  const cluster = names.map((n, i) => `${n}=${url(peers[i])}`).join(",");
  const members = await Promise.all(
    names.map((n, i) => startMember({ dataDir: join(root, n), peerPort: peers[i], args: ["--name", n, "--initial-advertise-peer-urls", url(peers[i]), "--initial-cluster", cluster] })),
  );
  started.push(...members);
  for (let i = 0; i < 50; i++) expect(ctl(members[0].endpoint, ["put", `k${i}`, `v${i}`]).status).toBe(0);

  // Two members are lost for good; the survivor cannot write any more.
  await members[1].stop("SIGKILL");
  await members[2].stop("SIGKILL");
  const survivor = members[0];
  expect(ctl(survivor.endpoint, ["put", "x", "y"]).stderr).toMatch(/etcdserver: (request timed out|no leader)|context deadline exceeded/);

  // 1. A snapshot from the survivor works without a leader.
  const snap = join(root, "survivor.db");
  const saved = ctl(survivor.endpoint, ["snapshot", "save", snap]);
  expect(saved.stdout).toContain(`Snapshot saved at ${snap}`);
  await survivor.stop();

  // 2. Restore it as a new one-member cluster and start it.
  const [p1, p2] = [await freePort(), await freePort()];
  const restored = spawnSync(BINARY, ["ctl", "snapshot", "restore", snap, "--name", "a2", "--data-dir", join(root, "a2"), "--initial-advertise-peer-urls", url(p1), "--initial-cluster", `a2=${url(p1)}`, "--initial-cluster-token", "recovered"], { encoding: "utf8" });
  expect(restored.status).toBe(0);
  const one = await startMember({ dataDir: join(root, "a2"), peerPort: p1, args: ["--name", "a2", "--initial-advertise-peer-urls", url(p1), "--initial-cluster", `a2=${url(p1)}`, "--initial-cluster-token", "recovered"] });
  started.push(one);
  expect(ctl(one.endpoint, ["get", "k", "--prefix", "--count-only", "-w", "fields"]).stdout).toContain('"Count" : 50\n');
  expect(ctl(one.endpoint, ["put", "after", "recovery"]).stdout).toBe("OK\n");

  // 3. Grow back: member add, then start the new member with --initial-cluster-state existing.
  const added = ctl(one.endpoint, ["member", "add", "b2", `--peer-urls=${url(p2)}`]);
  expect(added.status).toBe(0);
  const two = await startMember({ dataDir: join(root, "b2"), peerPort: p2, args: ["--name", "b2", "--initial-advertise-peer-urls", url(p2), "--initial-cluster", `a2=${url(p1)},b2=${url(p2)}`, "--initial-cluster-state", "existing"] });
  started.push(two);
  expect(ctl(two.endpoint, ["get", "after", "--print-value-only"]).stdout).toBe("recovery\n");
  // The restored keys too, from its own store: they reach it with the leader's database, not its log.
  expect(ctl(two.endpoint, ["get", "k", "--prefix", "--consistency=s", "--count-only", "-w", "fields"]).stdout).toContain('"Count" : 50\n');
  expect(ctl(two.endpoint, ["member", "list"]).stdout.trim().split("\n")).toHaveLength(2);
}, 90_000);
