/**
 * github.com/dustin/go-humanize's Bytes, which etcdctl uses for db sizes: SI units (powers of
 * 1000), one decimal below 10 ("1.0 MB"), none from 10 up ("25 kB"), plain bytes below 10 ("9 B").
 */

const SIZES = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/** Go's %.{digits}f: like toFixed, but an exact tie rounds to even as strconv does ("24.5" → "24"). */
export function goFixed(v: number, digits: number): string {
  const scaled = v * 10 ** digits;
  const floor = Math.floor(scaled);
  // Only a value whose scaled form is exactly n + 0.5 is a tie; toFixed would round it up.
  if (scaled - floor === 0.5 && Number.isSafeInteger(floor) && floor % 2 === 0 && (floor + 0.5) / 10 ** digits === v) {
    return (floor / 10 ** digits).toFixed(digits);
  }
  return v.toFixed(digits);
}

export function humanizeBytes(size: number | bigint): string {
  const s = Number(size);
  if (s < 10) return `${s} B`;
  const e = Math.floor(Math.log(s) / Math.log(1000));
  const val = Math.floor((s / 1000 ** e) * 10 + 0.5) / 10;
  return `${goFixed(val, val < 10 ? 1 : 0)} ${SIZES[e]}`;
}
