/** An Io for tests: output collected in strings, no stdin, no terminal. */
import type { Io } from "./context.ts";

export function fakeIo(opts: { env?: Record<string, string>; stderrIsTTY?: boolean } = {}) {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => void (out += typeof t === "string" ? t : Buffer.from(t).toString()),
    err: (t) => void (err += t),
    readStdin: async () => Buffer.alloc(0),
    readLine: async () => null,
    stdoutIsTTY: false,
    stdinIsTTY: false,
    stderrIsTTY: opts.stderrIsTTY ?? false,
    env: opts.env ?? {},
  };
  return { io, out: () => out, err: () => err };
}
