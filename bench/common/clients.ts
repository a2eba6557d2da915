// The two load generators every put/range bench runs (the client changes the ratio): bench/load.ts
// (Bun, raw HTTP/2 with pre-encoded requests) and bench/go/loadgen on Go's clientv3 3.4. --client
// ts|go|both picks them (default both).
import { runGoLoad } from "./goload.ts";
import { type RunLoad, runLoad } from "./loadgen.ts";
import { flag } from "./options.ts";

export type Client = "ts" | "go";
export const CLIENT_NAME: Record<Client, string> = { ts: "bench/load.ts", go: "Go clientv3" };
export const RUNNER: Record<Client, RunLoad> = { ts: runLoad, go: runGoLoad };

/** The load generators --client asks for; exits 2 on anything but ts, go or both. */
export function clientsAsked(): Client[] {
  const v = flag("client") ?? "both";
  if (v === "both") return ["ts", "go"];
  if (v === "ts" || v === "go") return [v];
  process.stderr.write(`bench: --client is ts, go or both, not '${v}'\n`);
  process.exit(2);
}
