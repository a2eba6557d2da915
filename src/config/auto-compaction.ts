import { parseDuration } from "./duration";
import { InvalidValueError } from "./errors";
import type { AutoCompaction } from "./types";
import { parseWholeNumber } from "./values";

const HOUR_MS = 3_600_000;

/**
 * --auto-compaction-retention means different things per mode, as in etcd:
 * periodic takes hours ("1") or a Go duration ("30m"); revision takes a
 * count of revisions to keep. "0" disables compaction in both.
 */
export function interpretAutoCompaction(mode: "periodic" | "revision", retention: string): AutoCompaction {
  if (mode === "revision") {
    try {
      return { mode, revisions: parseWholeNumber(retention, { min: 0 }) };
    } catch {
      throw new InvalidValueError("expected a whole number of revisions to keep when --auto-compaction-mode is revision");
    }
  }
  const text = retention.trim();
  if (/^\d+$/.test(text)) return { mode, periodMs: Number(text) * HOUR_MS };
  try {
    return { mode, periodMs: parseDuration(text) };
  } catch {
    throw new InvalidValueError("expected a number of hours or a duration such as 30m when --auto-compaction-mode is periodic");
  }
}
