// Loopback ports for the servers tests and benchmarks start.
//
// Asking the kernel for port 0 hands out ports from the ephemeral range, which is also where every
// outgoing connection (etcdctl, peers, clients) takes its source port: between our probe closing and
// the server binding, a connection could take the port and the server failed with EADDRINUSE (seen
// in CI). So ports come from below the ephemeral range, each handed out once per process, and are
// probed before use in case something else listens there.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOW = 15_000;

function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && low > LOW + 2000) return low;
  } catch {}
  return 32_768;
}

const HIGH = ephemeralLow();
// Processes running at once (a test run and a benchmark) start at different places.
let next = LOW + ((process.pid * 7919) % (HIGH - LOW));

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A loopback port no one listens on, never handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < HIGH - LOW; tries++) {
    const port = next;
    next = next + 1 >= HIGH ? LOW : next + 1;
    if (await probe(port)) return port;
  }
  throw new Error(`no free loopback port between ${LOW} and ${HIGH}`);
}
