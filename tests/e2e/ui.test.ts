// The web console at /ui in a real browser (headless Chromium through playwright-core), against the
// compiled dist/etcd: put, tree, value, watch, delete, members; and a 100,000-key space browsed with
// bounded reads. Screenshots go to test-artifacts/ui-*.png.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page, type Request } from "playwright-core";
import { cleanup, ROOT, startMember, type Member } from "./harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "test-artifacts");
/** The console's page size: no range request it makes may ask for more keys (keys.tsx, api.ts). */
const RANGE_LIMIT_MAX = 100;

/** CI must run this suite; a developer without Chromium sees it skipped with a reason. */
function haveChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is required when CI=true (install it: apt-get install -y chromium)`);
  console.warn(`skipping tests/e2e/ui.test.ts: ${CHROMIUM} is not installed (apt-get install -y chromium)`);
  return false;
}

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString("base64");

async function gateway(m: Member, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${m.clientUrl}/v3/${path}`, { method: "POST", body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path}: ${JSON.stringify(json)}`);
  return json;
}

/** Opens /ui in a fresh page that fails the test on any script error or CSP violation. */
async function openConsole(browser: Browser, m: Member): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${m.clientUrl}/ui`);
  await page.getByRole("heading", { name: "etcd-ts console" }).waitFor();
  return { page, problems };
}

const run = haveChromium();

describe.skipIf(!run)("web console (/ui)", () => {
  let m: Member;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    m = await startMember();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (m) {
      await m.stop();
      cleanup(m);
    }
  });

  test("should serve the console with a Content-Security-Policy", async () => {
    for (const path of ["/ui", "/ui/app.js", "/ui/app.css"]) {
      const res = await fetch(m.clientUrl + path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });

  test("should put a key, show it in the tree, the value view and the watch pane, then delete it", async () => {
    const { page, problems } = await openConsole(browser, m);
    const watch = page.locator("#watch");
    await watch.getByRole("textbox", { name: "prefix" }).fill("ui-test/");
    await watch.getByRole("button", { name: "Watch" }).click();
    await watch.locator('[data-state="watching"]').waitFor();

    const form = page.getByRole("form", { name: "Put a key" });
    await form.getByRole("textbox", { name: "key" }).fill("ui-test/greeting");
    // Markup in a value must show as text, never become elements.
    await form.getByRole("textbox", { name: "value" }).fill("hello <b>world</b> <img src=x onerror=alert(1)>");
    await form.getByRole("button", { name: "Put" }).click();

    const tree = page.getByRole("navigation", { name: "Key tree" });
    await tree.getByRole("button", { name: "ui-test/" }).click();
    await tree.getByRole("button", { name: "greeting", exact: true }).waitFor();

    const view = page.locator(".key-view");
    await view.getByText("hello <b>world</b>", { exact: false }).waitFor();
    expect(await view.locator('[data-field="version"]').textContent()).toBe("1");
    expect(await view.locator('[data-field="lease"]').textContent()).toBe("none");
    const rev = await view.locator('[data-field="mod_revision"]').textContent();
    expect(Number(rev)).toBeGreaterThan(1);
    expect(await view.locator('[data-field="create_revision"]').textContent()).toBe(rev);
    expect(await page.locator(".key-view b, .key-view img").count()).toBe(0);

    const events = watch.getByRole("table", { name: "Watch events" });
    await events.locator("tr.put", { hasText: "ui-test/greeting" }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "ui-put.png"), fullPage: true });

    await view.getByRole("button", { name: "Delete" }).click();
    await events.locator("tr.del", { hasText: "ui-test/greeting" }).waitFor();
    await view.getByText("does not exist").waitFor();
    await tree.getByRole("button", { name: "ui-test/" }).waitFor({ state: "detached" });
    expect(await tree.getByRole("button", { name: "greeting", exact: true }).count()).toBe(0);
    expect((await gateway(m, "kv/range", { key: b64("ui-test/greeting") })).kvs).toBeUndefined();
    await page.screenshot({ path: join(ARTIFACTS, "ui-delete.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  test("should show keys and values that are not UTF-8 as hex, and put with a lease", async () => {
    await gateway(m, "kv/put", { key: b64(new Uint8Array([0x62, 0x69, 0x6e, 0xff])), value: b64(new Uint8Array([0xc3, 0x28])) });
    const lease = await gateway(m, "lease/grant", { TTL: "300" });
    const leaseHex = BigInt(lease.ID).toString(16);
    const { page, problems } = await openConsole(browser, m);
    const tree = page.getByRole("navigation", { name: "Key tree" });
    await tree.getByRole("button", { name: "0x62696eff" }).click();
    await page.locator(".key-view pre.value", { hasText: "0xc328" }).waitFor();

    const leases = page.getByRole("table", { name: "Leases" });
    await leases.getByText(leaseHex).waitFor();
    await leases.getByRole("button", { name: "use in put" }).click();
    const form = page.getByRole("form", { name: "Put a key" });
    expect(await form.getByRole("textbox", { name: "lease" }).inputValue()).toBe(leaseHex);
    await form.getByRole("textbox", { name: "key" }).fill("leased");
    await form.getByRole("textbox", { name: "value" }).fill("v");
    await form.getByRole("button", { name: "Put" }).click();
    await page.locator('.key-view [data-field="lease"]', { hasText: leaseHex }).waitFor();
    const kv = (await gateway(m, "kv/range", { key: b64("leased") })).kvs[0];
    expect(kv.lease).toBe(lease.ID);
    expect(problems).toEqual([]);
    await page.close();
  });

  test("should show this member as the healthy leader, with raft index and db size", async () => {
    const { page, problems } = await openConsole(browser, m);
    const row = page.getByRole("table", { name: "Members" }).locator("tbody tr.self");
    await row.locator('[data-field="role"]', { hasText: "leader" }).waitFor();
    expect(await row.locator('[data-field="health"]').textContent()).toBe("healthy");
    expect(Number(await row.locator('[data-field="raft-index"]').textContent())).toBeGreaterThan(0);
    expect(await row.locator('[data-field="db-size"]').textContent()).toMatch(/\d/);
    await page.locator("#members").screenshot({ path: join(ARTIFACTS, "ui-members.png") });
    expect(problems).toEqual([]);
    await page.close();
  });

  test("should browse 100,000 keys with bounded range requests", async () => {
    // 100 directories of 1000 keys under bulk/, written 128 puts per txn (--max-txn-ops), 8 at a time.
    const keys: string[] = [];
    for (let d = 0; d < 100; d++) for (let k = 0; k < 1000; k++) keys.push(`bulk/d${String(d).padStart(3, "0")}/k${String(k).padStart(4, "0")}`);
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += 128) batches.push(keys.slice(i, i + 128));
    const value = b64("x".repeat(16));
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < batches.length) {
          const batch = batches[next++];
          const res = await gateway(m, "kv/txn", { success: batch.map((k) => ({ request_put: { key: b64(k), value } })) });
          expect(res.succeeded).toBe(true);
        }
      }),
    );
    const count = await gateway(m, "kv/range", { key: b64("bulk/"), range_end: b64("bulk0"), count_only: true });
    expect(count.count).toBe("100000");
    await gateway(m, "kv/put", { key: b64("zz-after-bulk"), value });

    const { page, problems } = await openConsole(browser, m);
    const ranges: any[] = [];
    const onRequest = (r: Request) => {
      if (r.url().endsWith("/v3/kv/range")) ranges.push(JSON.parse(r.postData() ?? "{}"));
    };
    page.on("request", onRequest);
    await page.reload();
    const tree = page.getByRole("navigation", { name: "Key tree" });
    const started = Date.now();
    await tree.getByRole("button", { name: "bulk/" }).waitFor();
    const firstLevelMs = Date.now() - started;
    // The key after 100,000 others on the first level: the tree skipped past bulk/ in one read.
    await tree.getByRole("button", { name: "zz-after-bulk" }).waitFor();
    const firstLevel = ranges.length;
    expect(firstLevel).toBeLessThanOrEqual(5);

    await tree.getByRole("button", { name: "bulk/" }).click();
    await tree.getByRole("button", { name: "d000/" }).waitFor();
    await tree.getByRole("button", { name: "d000/" }).click();
    await tree.getByRole("button", { name: "k0000", exact: true }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "ui-100k.png") });

    // Every read is a page: limited, keys only; never the whole key space.
    expect(ranges.length).toBeGreaterThan(0);
    for (const r of ranges) {
      expect(Number(r.limit)).toBeGreaterThan(0);
      expect(Number(r.limit)).toBeLessThanOrEqual(RANGE_LIMIT_MAX);
      expect(r.keys_only).toBe(true);
    }
    expect(ranges.length).toBeLessThanOrEqual(firstLevel + 2 * 50);
    console.log(`ui 100k: first level in ${firstLevelMs} ms with ${firstLevel} range requests; ${ranges.length} in all`);
    expect(problems).toEqual([]);
    page.off("request", onRequest);
    await page.close();
  });
});
