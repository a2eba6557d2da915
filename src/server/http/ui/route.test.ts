import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { registerUi, UI_CSP } from "./route.ts";

function app(): Hono {
  const a = new Hono();
  registerUi(a);
  return a;
}

describe("web console routes", () => {
  test("should serve the page, script and style with the CSP", async () => {
    const a = app();
    for (const [path, type] of [
      ["/ui", "text/html"],
      ["/ui/", "text/html"],
      ["/ui/app.js", "text/javascript"],
      ["/ui/app.css", "text/css"],
    ]) {
      const res = await a.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith(type);
      expect(res.headers.get("content-security-policy")).toBe(UI_CSP);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });

  test("should embed the bundled client (hono/jsx/dom and the console), not load it from disk", async () => {
    const js = await (await app().request("/ui/app.js")).text();
    expect(js.length).toBeGreaterThan(5000);
    expect(js.includes("kv/range") && js.includes("/v3/watch")).toBe(true);
    expect(/^import\s/m.test(js)).toBe(false);
    const page = await (await app().request("/ui")).text();
    expect(page).toContain('<script type="module" src="/ui/app.js"></script>');
    expect(page).not.toMatch(/<script>|style=/);
  });

  test("should answer 304 when the browser has the current version", async () => {
    const a = app();
    const etag = (await a.request("/ui/app.js")).headers.get("etag")!;
    const res = await a.request("/ui/app.js", { headers: { "if-none-match": etag } });
    expect(res.status).toBe(304);
  });
});
