// The store against a plain reference model: random puts, deletes and compactions (seeded), then every
// retained revision is read back over several ranges and compared.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../backend/backend.ts";
import { MvccStore } from "./store.ts";
import { seededRandom } from "../pkg/prng.ts";


interface ModelKv {
  value: string;
  create: bigint;
  mod: bigint;
  version: bigint;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (u: Uint8Array) => new TextDecoder().decode(u);

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

for (const seed of [1, 2, 3, 4, 5]) {
  test(`random history matches the model at every retained revision (seed ${seed})`, () => {
    const dir = mkdtempSync(join(tmpdir(), "mvcc-model-"));
    dirs.push(dir);
    const backend = new Backend(join(dir, "db"));
    const store = new MvccStore(backend);
    const rnd = seededRandom(seed);
    const keys = Array.from({ length: 12 }, (_, i) => `k${String.fromCharCode(97 + i)}`);
    // snapshots[rev] = the model's state at that revision
    const snapshots = new Map<bigint, Map<string, ModelKv>>();
    let state = new Map<string, ModelKv>();
    let rev = 1n;
    snapshots.set(rev, new Map(state));
    let compacted = 0n;

    for (let step = 0; step < 400; step++) {
      const r = rnd();
      if (r < 0.6) {
        const k = keys[Math.floor(rnd() * keys.length)];
        const v = `v${step}`;
        store.write((t) => t.put(enc(k), enc(v), 0n));
        rev++;
        const prev = state.get(k);
        state = new Map(state);
        state.set(k, { value: v, create: prev ? prev.create : rev, mod: rev, version: prev ? prev.version + 1n : 1n });
        snapshots.set(rev, state);
      } else if (r < 0.85) {
        const a = Math.floor(rnd() * keys.length);
        const b = Math.min(keys.length, a + 1 + Math.floor(rnd() * 3));
        const doomed = keys.slice(a, b).filter((k) => state.has(k));
        const res = store.write((t) => t.deleteRange(enc(keys[a]), b < keys.length ? enc(keys[b]) : new Uint8Array([0])));
        expect(res.deleted).toBe(doomed.length);
        if (doomed.length) {
          rev++;
          state = new Map(state);
          for (const k of doomed) state.delete(k);
          snapshots.set(rev, state);
        }
      } else if (r < 0.92 && rev > compacted + 2n) {
        const to = compacted + 1n + BigInt(Math.floor(rnd() * Number(rev - compacted - 1n)));
        store.compact(to);
        compacted = to;
      }
      expect(store.rev).toBe(rev);
    }

    for (const [at, snap] of snapshots) {
      if (at < compacted) {
        expect(() => store.range(enc("a"), new Uint8Array([0]), { rev: at })).toThrow("required revision has been compacted");
        continue;
      }
      for (const [from, to] of [["ka", "kz"], ["kc", "kf"], ["kb", null]] as const) {
        const got = store.range(enc(from), to === null ? null : enc(to), { rev: at });
        const want = [...snap.entries()]
          .filter(([k]) => (to === null ? k === from : k >= from && k < to))
          .sort(([x], [y]) => (x < y ? -1 : 1));
        const label = `seed ${seed} rev ${at} [${from}, ${to})`;
        expect({ label, kvs: got.kvs.map((kv) => [dec(kv.key), dec(kv.value), kv.createRevision, kv.modRevision, kv.version]) }).toEqual({
          label,
          kvs: want.map(([k, m]) => [k, m.value, m.create, m.mod, m.version]),
        });
        expect(got.count).toBe(want.length);
      }
    }
    backend.close();
  });
}
