import { expect, test } from "bun:test";
import { copyFile, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeSnapFile } from "./snap-file";
import { Snapshotter, type RaftSnapshot } from "./snapshotter";

type LogLine = { level: string; msg: string };

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "etcd-ts-snap-test-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function snapshotterWithLog(dir: string): { snapshotter: Snapshotter; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { snapshotter: new Snapshotter(dir, { log: (level, msg) => lines.push({ level, msg }) }), lines };
}

/** A snapshot as the server saves one: the membership JSON at that index. */
function membership(term: bigint, index: bigint, voters: bigint[] = [1n, 2n, 3n], learners: bigint[] = []): RaftSnapshot {
  const json = JSON.stringify({ index: index.toString(), members: voters.map((id) => ({ id: id.toString(16), name: `m${id}` })) });
  return { metadata: { index, term, confState: { voters, learners } }, data: new TextEncoder().encode(json) };
}

/** What loadNewest hands back for `s`: the same snapshot with every ConfState field filled in. */
function loaded(s: RaftSnapshot): RaftSnapshot {
  const cs = s.metadata.confState;
  return {
    metadata: {
      ...s.metadata,
      confState: { voters: cs.voters ?? [], learners: cs.learners ?? [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
    data: s.data,
  };
}

const name = (term: number, index: number) => `${term.toString(16).padStart(16, "0")}-${index.toString(16).padStart(16, "0")}.snap`;

async function flipByte(path: string, offsetFromEnd: number): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const { size } = await handle.stat();
    const byte = new Uint8Array(1);
    await handle.read(byte, 0, 1, size - offsetFromEnd);
    byte[0] ^= 0x10;
    await handle.write(byte, 0, 1, size - offsetFromEnd);
  } finally {
    await handle.close();
  }
}

test("save then loadNewest round-trips a snapshot; the file is private and no temp file remains", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "member", "snap");
    const { snapshotter, lines } = snapshotterWithLog(dir);
    const snapshot = membership(2n, 10n, [1n, 0xffff_ffff_ffff_fffen], [0x8e9e05c52164694dn]);
    expect(await snapshotter.save(snapshot)).toBe(name(2, 10));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, name(2, 10)))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual([name(2, 10)]);
    expect(await snapshotter.list()).toEqual([{ name: name(2, 10), term: 2n, index: 10n }]);
    // The bytes on disk are exactly the encoded file.
    expect(new Uint8Array(await readFile(join(dir, name(2, 10))))).toEqual(new Uint8Array(encodeSnapFile(snapshot)));

    // A fresh Snapshotter (a restart) reads it back.
    const again = new Snapshotter(dir, { log: () => {} });
    expect(await again.loadNewest()).toEqual(loaded(snapshot));
    expect(lines).toEqual([]);
  });
});

test("an empty or missing directory has no snapshot", async () => {
  await withTempDir(async (root) => {
    const missing = new Snapshotter(join(root, "nope"), { log: () => {} });
    expect(await missing.list()).toEqual([]);
    expect(await missing.loadNewest()).toBeNull();
    expect(await missing.purge(1)).toEqual([]);
    // The database and its journal live here too; they are not snapshots.
    for (const other of ["db", "db-wal", "db-shm"]) await writeFile(join(root, other), "sqlite");
    const { snapshotter, lines } = snapshotterWithLog(root);
    expect(await snapshotter.list()).toEqual([]);
    expect(await snapshotter.loadNewest()).toBeNull();
    expect(lines).toEqual([]);
  });
});

test("files are listed by index, and loadNewest picks the highest index whatever the save order", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter } = snapshotterWithLog(dir);
    const saved = [membership(1n, 16n), membership(1n, 9n), membership(3n, 256n), membership(1n, 10n), membership(2n, 255n)];
    for (const s of saved) await snapshotter.save(s);
    expect((await snapshotter.list()).map((f) => f.index)).toEqual([9n, 10n, 16n, 255n, 256n]);
    expect(await snapshotter.loadNewest()).toEqual(loaded(saved[2]));

    // Indexes past 2^53 keep every bit.
    const big = membership(4n, 2n ** 60n + 3n);
    await snapshotter.save(big);
    expect((await snapshotter.list()).at(-1)).toEqual({ name: `0000000000000004-1000000000000003.snap`, term: 4n, index: 2n ** 60n + 3n });
    expect(await snapshotter.loadNewest()).toEqual(loaded(big));
  });
});

test("loadNewest with match skips snapshots it rejects without renaming them", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter, lines } = snapshotterWithLog(dir);
    for (const index of [5n, 6n, 7n]) await snapshotter.save(membership(1n, index));
    expect(await snapshotter.loadNewest({ match: (m) => m.index <= 6n })).toEqual(loaded(membership(1n, 6n)));
    expect(await snapshotter.loadNewest({ match: () => false })).toBeNull();
    expect((await snapshotter.list()).map((f) => f.index)).toEqual([5n, 6n, 7n]);
    expect(lines).toEqual([]);
  });
});

test("a damaged newest file is renamed to .broken, logged, and the next older one is loaded", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter, lines } = snapshotterWithLog(dir);
    for (const index of [5n, 6n, 7n]) await snapshotter.save(membership(1n, index));
    await flipByte(join(dir, name(1, 7)), 10);

    expect(await snapshotter.loadNewest()).toEqual(loaded(membership(1n, 6n)));
    expect((await readdir(dir)).sort()).toEqual([name(1, 5), name(1, 6), `${name(1, 7)}.broken`]);
    expect(lines).toHaveLength(1);
    expect(lines[0].level).toBe("warn");
    expect(lines[0].msg).toContain(join(dir, name(1, 7)));
    expect(lines[0].msg).toContain("crc mismatch");
    expect(lines[0].msg).toContain(".broken");

    // The broken file is neither listed nor looked at again, nor purged.
    expect((await snapshotter.list()).map((f) => f.index)).toEqual([5n, 6n]);
    expect(await snapshotter.loadNewest()).toEqual(loaded(membership(1n, 6n)));
    expect(lines).toHaveLength(1);
    expect(await snapshotter.purge(1)).toEqual([name(1, 5)]);
    expect((await readdir(dir)).sort()).toEqual([name(1, 6), `${name(1, 7)}.broken`]);
  });
});

test("every kind of damaged file is set aside, down to none left", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter, lines } = snapshotterWithLog(dir);
    for (const index of [1n, 2n, 3n, 4n, 5n]) await snapshotter.save(membership(1n, index));
    await truncate(join(dir, name(1, 5)), 0); // empty
    await truncate(join(dir, name(1, 4)), 30); // cut short
    await writeFile(join(dir, name(1, 3)), new Uint8Array(512)); // zeros
    // An intact file under a name that is not its own: the name is what list() and purge() trust.
    await copyFile(join(dir, name(1, 1)), join(dir, name(1, 2)));
    await flipByte(join(dir, name(1, 1)), 1);

    expect(await snapshotter.loadNewest()).toBeNull();
    expect(await snapshotter.list()).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual([1, 2, 3, 4, 5].map((i) => `${name(1, i)}.broken`));
    expect(lines.map((l) => l.level)).toEqual(["warn", "warn", "warn", "warn", "warn"]);
    expect(lines[0].msg).toContain("empty");
    expect(lines[3].msg).toContain("does not match the file name");
  });
});

test("purge keeps the newest N snapshot files; 0 keeps them all", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter, lines } = snapshotterWithLog(dir);
    for (let index = 1; index <= 7; index++) await snapshotter.save(membership(1n, BigInt(index * 100)));
    await writeFile(join(dir, "db"), "sqlite");
    const all = [1, 2, 3, 4, 5, 6, 7].map((i) => name(1, i * 100));

    expect(await snapshotter.purge(0)).toEqual([]);
    expect((await snapshotter.list()).map((f) => f.name)).toEqual(all);
    expect(await snapshotter.purge(3)).toEqual(all.slice(0, 4));
    expect((await readdir(dir)).sort()).toEqual([...all.slice(4), "db"]);
    expect(lines.at(-1)?.msg).toContain("purged 4 snapshot file(s)");
    expect(await snapshotter.purge(3)).toEqual([]);
    expect(await snapshotter.purge(5)).toEqual([]);
    expect(await snapshotter.purge(1)).toEqual(all.slice(4, 6));
    expect(await snapshotter.loadNewest()).toEqual(loaded(membership(1n, 700n)));

    for (const keep of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(snapshotter.purge(keep)).rejects.toThrow(RangeError);
    }
    expect((await readdir(dir)).sort()).toEqual([all[6], "db"]);
  });
});

test("a temp file torn by a crash during save is ignored, and purge deletes it", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter, lines } = snapshotterWithLog(dir);
    await snapshotter.save(membership(1n, 5n));
    // A newer save that crashed before its rename: half a file under the temp name.
    const torn = encodeSnapFile(membership(1n, 9n));
    await writeFile(join(dir, `${name(1, 9)}.tmp`), torn.subarray(0, torn.length >> 1));
    await writeFile(join(dir, "unrelated.tmp"), "not ours");

    expect(await snapshotter.list()).toEqual([{ name: name(1, 5), term: 1n, index: 5n }]);
    expect(await snapshotter.loadNewest()).toEqual(loaded(membership(1n, 5n)));
    expect(lines).toEqual([]);

    expect(await snapshotter.purge(0)).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual([name(1, 5), "unrelated.tmp"]);
    expect(lines.at(-1)?.msg).toContain(`${name(1, 9)}.tmp`);

    // Saving the same snapshot again replaces the file whole.
    await snapshotter.save(membership(1n, 9n));
    expect(await snapshotter.loadNewest()).toEqual(loaded(membership(1n, 9n)));
  });
});

test("concurrent saves and purges run one at a time", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter } = snapshotterWithLog(dir);
    const work: Promise<unknown>[] = [];
    for (let index = 1; index <= 20; index++) {
      work.push(snapshotter.save(membership(1n, BigInt(index))));
      if (index % 5 === 0) work.push(snapshotter.purge(2));
    }
    await Promise.all(work);
    expect((await snapshotter.list()).map((f) => f.index)).toEqual([19n, 20n]);
    expect((await readdir(dir)).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });
});

test("save refuses the empty snapshot and malformed metadata, writing nothing", async () => {
  await withTempDir(async (dir) => {
    const { snapshotter } = snapshotterWithLog(dir);
    await expect(snapshotter.save(membership(1n, 0n))).rejects.toThrow("empty snapshot");
    await expect(snapshotter.save(membership(1n, -1n))).rejects.toThrow(RangeError);
    await expect(snapshotter.save(membership(1n, 2n ** 64n))).rejects.toThrow(RangeError);
    const numeric = { metadata: { index: 5, term: 1, confState: {} }, data: new Uint8Array(1) } as unknown as RaftSnapshot;
    await expect(snapshotter.save(numeric)).rejects.toThrow(RangeError);
    const noData = { metadata: { index: 5n, term: 1n, confState: {} }, data: "x" } as unknown as RaftSnapshot;
    await expect(snapshotter.save(noData)).rejects.toThrow(TypeError);
    expect(await readdir(dir)).toEqual([]);
  });
});
