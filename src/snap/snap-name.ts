// Snapshot files are named like etcd's: `${term}-${index}.snap`, both as 16
// lowercase hex digits.

export type SnapFile = { name: string; term: bigint; index: bigint };

export const SNAP_SUFFIX = ".snap";
const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

export function formatSnapName(term: bigint, index: bigint): string {
  if (!isUint64(term) || !isUint64(index)) throw new RangeError(`snapshot term/index out of range: ${term}/${index}`);
  return `${hex64(term)}-${hex64(index)}${SNAP_SUFFIX}`;
}

/** null for names that are not snapshot files (the db, temp and broken files share the dir). */
export function parseSnapName(name: string): SnapFile | null {
  const match = NAME_PATTERN.exec(name);
  if (match === null) return null;
  return { name, term: BigInt(`0x${match[1]}`), index: BigInt(`0x${match[2]}`) };
}

/** Oldest first: by index, then term. Raft terms never decrease along the log, so this is also name order. */
export function compareSnapFiles(a: SnapFile, b: SnapFile): number {
  if (a.index !== b.index) return a.index < b.index ? -1 : 1;
  if (a.term !== b.term) return a.term < b.term ? -1 : 1;
  return 0;
}

export function isUint64(value: unknown): value is bigint {
  return typeof value === "bigint" && value >= 0n && value <= MAX_UINT64;
}

function hex64(value: bigint): string {
  return value.toString(16).padStart(16, "0");
}
