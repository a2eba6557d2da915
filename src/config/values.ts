import { InvalidValueError } from "./errors";

// Parsers for single setting values. Each throws InvalidValueError with the
// "expected ..." half of the message; the loader adds which setting it was.

/** strconv.ParseBool's spellings, since etcd reads booleans (flags and env) with it. */
export function parseBool(text: string): boolean {
  switch (text.trim()) {
    case "1":
    case "t":
    case "T":
    case "true":
    case "TRUE":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "false":
    case "FALSE":
    case "False":
      return false;
    default:
      throw new InvalidValueError("expected true or false");
  }
}

export function parseWholeNumber(text: string, options: { readonly min: number; readonly unit?: string }): number {
  const noun = options.unit === undefined ? "a whole number" : `a whole number of ${options.unit}`;
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new InvalidValueError(`expected ${noun}`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new InvalidValueError(`expected ${noun} no larger than ${Number.MAX_SAFE_INTEGER}`);
  if (n < options.min) {
    throw new InvalidValueError(options.min === 1 ? `expected ${noun} greater than 0` : `expected ${noun} of at least ${options.min}`);
  }
  return n;
}

export function parseChoice<T extends string>(text: string, choices: readonly T[]): T {
  const t = text.trim();
  const found = choices.find((choice) => choice === t);
  if (found !== undefined) return found;
  const listed = choices.map((choice) => `'${choice}'`);
  const last = listed.pop();
  throw new InvalidValueError(`expected ${listed.length === 0 ? last : `${listed.join(", ")} or ${last}`}`);
}

/** Comma-separated list; surrounding spaces and empty entries are dropped. */
export function parseList(text: string): string[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
}

export function parseNonEmptyList(text: string, what: string): string[] {
  const list = parseList(text);
  if (list.length === 0) throw new InvalidValueError(`expected at least one ${what}`);
  return list;
}

export function parseNonEmpty(text: string, what: string): string {
  const t = text.trim();
  if (t === "") throw new InvalidValueError(`expected ${what}`);
  return t;
}

/**
 * Member names end up inside --initial-cluster, whose syntax reserves ','
 * and '='; a name containing either could never be listed there.
 */
export function parseMemberName(text: string): string {
  const name = parseNonEmpty(text, "a member name, such as n1");
  if (/[,=]/.test(name)) throw new InvalidValueError("expected a member name without ',' or '=', such as n1");
  return name;
}
