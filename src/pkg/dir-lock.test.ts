import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devMajor, devMinor, flockHolderFromProcLocks, LOCK_FILE_NAME, lockDirectory, lockHolder } from "./dir-lock.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "dir-lock-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("lockDirectory", () => {
  test("the first lock wins and records its PID; a second open of the file is refused and names the holder", async () => {
    const dir = tempDir();
    const first = await lockDirectory(dir);
    if (first.kind !== "locked") throw new Error(`expected the lock, got ${JSON.stringify(first)}`);
    expect(first.path).toBe(join(dir, LOCK_FILE_NAME));
    expect(readFileSync(first.path, "utf8")).toBe(`${process.pid}\n`);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    // flock belongs to the open file, not the process: a second open in this process is refused too.
    const second = await lockDirectory(dir);
    expect(second).toEqual({ kind: "busy", path: first.path, pid: process.pid });
    closeSync(first.fd);
    const third = await lockDirectory(dir);
    expect(third.kind).toBe("locked");
    if (third.kind === "locked") closeSync(third.fd);
  });

  test("another process holding the directory is named; once it exits the lock is free again", async () => {
    const dir = tempDir();
    const holder = Bun.spawn(
      [process.execPath, "-e", `const m = await import(${JSON.stringify(join(import.meta.dir, "dir-lock.ts"))}); const l = await m.lockDirectory(${JSON.stringify(dir)}); console.log(l.kind); await new Promise(() => {});`],
      { stdout: "pipe", stderr: "inherit" },
    );
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe("locked\n");
    const refused = await lockDirectory(dir);
    expect(refused).toEqual({ kind: "busy", path: join(dir, LOCK_FILE_NAME), pid: holder.pid });
    expect(lockHolder(join(dir, LOCK_FILE_NAME))).toBe(holder.pid);
    holder.kill("SIGKILL");
    await holder.exited;
    // The kernel released it with the process: nothing stale to clean up.
    const after = await lockDirectory(dir);
    expect(after.kind).toBe("locked");
    if (after.kind === "locked") closeSync(after.fd);
  });
});

describe("/proc/locks", () => {
  const text = [
    "1: POSIX  ADVISORY  READ 18318 fe:00:2146636 128 128",
    "2: FLOCK  ADVISORY  WRITE 4242 103:01:99 0 EOF",
    "2: -> FLOCK  ADVISORY  WRITE 777 103:01:99 0 EOF",
    "3: FLOCK  ADVISORY  WRITE 5151 fe:00:99 0 EOF",
    "4: OFDLCK ADVISORY  WRITE -1 fe:00:100 0 EOF",
    "5: FLOCK  ADVISORY  WRITE 0 fe:00:101 0 EOF",
  ].join("\n");

  test("the FLOCK holder of a file is found by device and inode; waiters and unseen PIDs are not holders", () => {
    expect(flockHolderFromProcLocks(text, { major: 0x103, minor: 1, inode: 99 })).toBe(4242);
    expect(flockHolderFromProcLocks(text, { major: 0xfe, minor: 0, inode: 99 })).toBe(5151);
    expect(flockHolderFromProcLocks(text, { major: 0xfe, minor: 0, inode: 100 })).toBeUndefined();
    expect(flockHolderFromProcLocks(text, { major: 0xfe, minor: 0, inode: 101 })).toBeUndefined();
    expect(flockHolderFromProcLocks(text, { major: 0xfe, minor: 0, inode: 2146636 })).toBeUndefined();
  });

  test("dev_t is split as glibc does (12-bit major, 20-bit minor)", () => {
    expect([devMajor(0xfe00), devMinor(0xfe00)]).toEqual([0xfe, 0]);
    expect([devMajor(0x10301), devMinor(0x10301)]).toEqual([0x103, 1]);
    // minor 0x12345 on major 8: low byte of the minor in bits 0-7, the rest from bit 20
    const dev = (0x123 << 20) + (8 << 8) + 0x45;
    expect([devMajor(dev), devMinor(dev)]).toEqual([8, 0x12345]);
  });
});
