import { InvalidValueError } from "./errors";

// Go's time.ParseDuration units, because etcd's duration flags are Go
// durations and operators copy values like "1m30s" straight from etcd docs.
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3, // U+00B5 micro sign
  "μs": 1e-3, // U+03BC Greek mu; Go accepts both
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

// "ms" must be tried before "m" and "s"; alternation is ordered.
const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

export const DURATION_EXPECTED = "expected a duration with a unit, such as 500ms, 5s, 2h or 1m30s";

/**
 * Parses a Go duration ("5s", "2h", "1m30s", "100ms") into milliseconds.
 * Negative durations are rejected: none of etcd's duration settings has a
 * meaning for them. A bare "0" is allowed, as in Go.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "0") return 0;
  if (s === "") throw new InvalidValueError(DURATION_EXPECTED);
  let pos = 0;
  let total = 0;
  while (pos < s.length) {
    TERM.lastIndex = pos;
    const match = TERM.exec(s);
    if (match === null) throw new InvalidValueError(DURATION_EXPECTED);
    total += Number(match[1]) * UNIT_MS[match[2]];
    pos = TERM.lastIndex;
  }
  // Round to whole nanoseconds so "1.1s" is 1100, not 1100.0000000000002.
  return Math.round(total * 1e6) / 1e6;
}
