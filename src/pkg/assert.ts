/**
 * Paired assertions (TigerBeetle's habit): an invariant is checked where it is made and again where it
 * is relied on, so a broken one stops the process at the first wrong step rather than corrupting data.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = "AssertionError";
  }
}

export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new AssertionError(typeof message === "string" ? message : message());
}
