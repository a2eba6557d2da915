import { compareBytes, type KeyRange } from "../key-value.ts";

/** What a group needs of a watcher. */
export interface Keyed {
  readonly range: KeyRange;
}

/**
 * Watchers indexed by what they watch, to find those interested in a key (etcd's watcherGroup).
 * Single-key watchers sit in a map by key; range and from-key watchers are grouped by their exact
 * range, since many clients watch the same prefix, and the distinct ranges are scanned per key.
 * That scan is linear in the number of distinct ranges — an interval tree would replace it if
 * thousands of different ranges become common.
 */
export class WatcherGroup<W extends Keyed> {
  #points = new Map<string, Set<W>>();
  #ranges = new Map<string, { range: KeyRange; members: Set<W> }>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(w: W): void {
    const r = w.range;
    if (r.kind === "point") {
      const k = keyString(r.key);
      let set = this.#points.get(k);
      if (!set) this.#points.set(k, (set = new Set()));
      if (set.has(w)) throw new Error("assertion failed: watcher added to a group twice");
      set.add(w);
    } else {
      const k = rangeString(r);
      let g = this.#ranges.get(k);
      if (!g) this.#ranges.set(k, (g = { range: r, members: new Set() }));
      if (g.members.has(w)) throw new Error("assertion failed: watcher added to a group twice");
      g.members.add(w);
    }
    this.#size++;
  }

  /** Removes w; false if it was not in the group. */
  delete(w: W): boolean {
    const r = w.range;
    if (r.kind === "point") {
      const k = keyString(r.key);
      const set = this.#points.get(k);
      if (!set?.delete(w)) return false;
      if (set.size === 0) this.#points.delete(k);
    } else {
      const k = rangeString(r);
      const g = this.#ranges.get(k);
      if (!g?.members.delete(w)) return false;
      if (g.members.size === 0) this.#ranges.delete(k);
    }
    this.#size--;
    return true;
  }

  *values(): IterableIterator<W> {
    for (const set of this.#points.values()) yield* set;
    for (const g of this.#ranges.values()) yield* g.members;
  }

  /** Calls fn for every watcher whose range holds key. */
  forKey(key: Uint8Array, fn: (w: W) => void): void {
    if (this.#points.size > 0) {
      const set = this.#points.get(keyString(key));
      if (set) for (const w of set) fn(w);
    }
    for (const { range, members } of this.#ranges.values()) {
      if (compareBytes(key, range.key) < 0) continue;
      if (range.kind === "range" && compareBytes(key, range.end) >= 0) continue;
      for (const w of members) fn(w);
    }
  }
}

/** A key as a map key: latin1 maps each byte to one code unit, so distinct keys stay distinct. */
function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

function rangeString(r: KeyRange): string {
  // The separator cannot be confused: the kind decides whether an end follows.
  return r.kind === "range" ? `r${keyString(r.key)}\u0100${keyString(r.end)}` : `f${keyString(r.key)}`;
}
