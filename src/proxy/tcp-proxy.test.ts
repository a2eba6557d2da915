// The L4 gateway on loopback sockets: backends that answer with their name.
import { afterEach, expect, test } from "bun:test";
import net from "node:net";
import { createLogger } from "../pkg/logger.ts";
import { TcpProxy } from "./tcp-proxy.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** A backend that writes its name and then echoes what it gets. */
async function backend(name: string, port = 0): Promise<number> {
  const s = net.createServer((c) => {
    c.write(`${name}:`);
    c.pipe(c);
  });
  await new Promise<void>((r) => s.listen(port, "127.0.0.1", () => r()));
  cleanups.push(() => s.close());
  return (s.address() as net.AddressInfo).port;
}

async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startProxy(endpoints: number[], retryDelayMs: number, lines: string[]): Promise<{ proxy: TcpProxy; port: number }> {
  const proxy = new TcpProxy({ endpoints: endpoints.map((port) => ({ host: "127.0.0.1", port })), retryDelayMs, log: createLogger("debug", (l) => lines.push(l)) });
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  proxy.serve(server);
  cleanups.push(() => proxy.close());
  return { proxy, port: (server.address() as net.AddressInfo).port };
}

/** Connects through the proxy, sends `msg`, returns all it reads until it has the echo (or the close). */
function exchange(port: number, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    let got = "";
    c.on("data", (d) => {
      got += d;
      if (got.endsWith(msg)) c.end();
    });
    c.on("error", () => {});
    c.on("close", () => resolve(got));
    c.write(msg);
  });
}

test("round-robin over the endpoints; one that refuses is skipped and left out", async () => {
  const a = await backend("A");
  const b = await backend("B");
  const dead = await deadPort();
  const lines: string[] = [];
  const { proxy, port } = await startProxy([a, dead, b], 60_000, lines);
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) seen.push(await exchange(port, `hello${i}`));
  // The second connection found the dead endpoint, was given B instead; from then on A and B alternate.
  expect(seen).toEqual(["A:hello0", "B:hello1", "A:hello2", "B:hello3", "A:hello4"]);
  expect(proxy.activeEndpoints).toEqual([`127.0.0.1:${a}`, `127.0.0.1:${b}`]);
  const warn = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "deactivated endpoint");
  expect(warn).toMatchObject({ level: "warn", address: `127.0.0.1:${dead}`, interval: "60000ms" });
  expect(warn.error).toContain("connection refused");
});

test("a refused endpoint is dialed again every retry delay and comes back once it answers", async () => {
  const a = await backend("A");
  const later = await deadPort();
  const lines: string[] = [];
  const { proxy, port } = await startProxy([later, a], 20, lines);
  expect(await exchange(port, "x")).toBe("A:x");
  expect(proxy.activeEndpoints).toEqual([`127.0.0.1:${a}`]);
  await backend("L", later);
  for (let i = 0; i < 400 && proxy.activeEndpoints.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  expect(proxy.activeEndpoints).toEqual([`127.0.0.1:${later}`, `127.0.0.1:${a}`]);
  expect(lines.some((l) => JSON.parse(l).msg === "activated")).toBe(true);
  const both = [await exchange(port, "1"), await exchange(port, "2")].map((s) => s[0]).sort();
  expect(both).toEqual(["A", "L"]);
});

test("with no endpoint answering, the client's connection is closed", async () => {
  const { port } = await startProxy([await deadPort()], 60_000, []);
  expect(await exchange(port, "x")).toBe("");
});
