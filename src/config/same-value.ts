/**
 * Equality of parsed setting values (numbers, strings, booleans, string lists and maps), for
 * telling whether two names of one setting were given the same value and whether a value is
 * its default.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  if (isMapLike(a) && isMapLike(b)) {
    if (a.size !== b.size) return false;
    for (const [key, value] of a.entries()) if (!b.has(key) || !sameValue(value, b.get(key))) return false;
    return true;
  }
  return false;
}

function isMapLike(value: unknown): value is ReadonlyMap<unknown, unknown> {
  return typeof value === "object" && value !== null && typeof (value as Map<unknown, unknown>).entries === "function" && "size" in value;
}
