import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { HeldListener } from "./held-listener.ts";
import { createCertificate } from "./tls-cert.ts";

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await Bun.sleep(5);
  if (!cond()) throw new Error("condition not reached");
}

const echo = () => net.createServer((s) => s.on("data", (d) => s.write(`echo:${d}`)));

describe("HeldListener", () => {
  test("a connection waits unread until release, then the target server gets it with the bytes sent meanwhile", async () => {
    const held = await HeldListener.listen({ host: "127.0.0.1", port: 0 });
    const events: string[] = [];
    const client = net.connect(held.address().port, "127.0.0.1", () => client.write("ping"));
    client.on("data", (d) => events.push(String(d)));
    await until(() => held.waiting === 1);
    await Bun.sleep(50); // room for an answer, were the connection served
    events.push("released");
    held.release(echo());
    await until(() => events.length === 2);
    expect(events).toEqual(["released", "echo:ping"]);
    expect(held.waiting).toBe(0);
    // Connections after the release go straight through.
    const late = await new Promise<string>((resolve) => {
      const c = net.connect(held.address().port, "127.0.0.1", () => c.write("again"));
      c.on("data", (d) => (resolve(String(d)), c.destroy()));
    });
    expect(late).toBe("echo:again");
    client.destroy();
    held.close();
  });

  test("a tls.Server target runs the TLS handshake only after the release", async () => {
    const cert = await createCertificate({ commonName: "held", hosts: ["127.0.0.1"], rsaBits: 1024 });
    const held = await HeldListener.listen({ host: "127.0.0.1", port: 0 });
    const events: string[] = [];
    const client = tls.connect({ host: "127.0.0.1", port: held.address().port, rejectUnauthorized: false }, () => {
      events.push("secure");
      client.write("hello");
    });
    client.on("data", (d) => events.push(String(d)));
    await until(() => held.waiting === 1);
    await Bun.sleep(50);
    events.push("released");
    held.release(tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => s.on("data", (d) => s.write(`tls:${d}`))));
    await until(() => events.length === 3);
    expect(events).toEqual(["released", "secure", "tls:hello"]);
    client.destroy();
    held.close();
  });

  test("beyond maxHeld waiting connections new ones are closed; close() ends the waiting ones and frees the port", async () => {
    const held = await HeldListener.listen({ host: "127.0.0.1", port: 0 }, { maxHeld: 1 });
    const port = held.address().port;
    const closed: string[] = [];
    const first = net.connect(port, "127.0.0.1");
    first.on("close", () => closed.push("first"));
    first.on("error", () => {});
    await until(() => held.waiting === 1);
    const second = net.connect(port, "127.0.0.1");
    second.on("close", () => closed.push("second"));
    second.on("error", () => {});
    await until(() => closed.length === 1);
    expect(closed).toEqual(["second"]);
    expect(held.refused).toBe(1);
    held.close();
    await until(() => closed.length === 2);
    expect(closed).toEqual(["second", "first"]);
    const again = await HeldListener.listen({ host: "127.0.0.1", port });
    again.close();
  });

  test("a unix socket path works the same way", async () => {
    const dir = mkdtempSync(join(tmpdir(), "held-"));
    try {
      const path = join(dir, "client.sock");
      const held = await HeldListener.listen({ path });
      const got = new Promise<string>((resolve) => {
        const c = net.connect({ path }, () => c.write("unix"));
        c.on("data", (d) => (resolve(String(d)), c.destroy()));
      });
      await until(() => held.waiting === 1);
      held.release(echo());
      expect(await got).toBe("echo:unix");
      held.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a port in use is refused with the system's error", async () => {
    const held = await HeldListener.listen({ host: "127.0.0.1", port: 0 });
    const err = await HeldListener.listen({ host: "127.0.0.1", port: held.address().port }).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toBe("EADDRINUSE");
    held.close();
  });
});
