import { expect, test } from "bun:test";
import { type Expiry, spreadExpiries } from "./spread-expiries.ts";

const burst = (n: number, atMs: number): Expiry[] => Array.from({ length: n }, (_, i) => ({ id: BigInt(i + 1), expiresAtMs: atMs }));

test("below the revoke rate nothing moves", () => {
  const e = burst(99, 1000);
  expect(spreadExpiries(e, 100)).toBe(0);
  expect(e.every((x) => x.expiresAtMs === 1000)).toBe(true);
});

test("a burst is cut into one-second windows of 3/4 of the rate, in order, never earlier", () => {
  const e = burst(100, 5000);
  expect(spreadExpiries(e, 40)).toBe(70);
  const at = e.map((x) => x.expiresAtMs);
  expect(at.slice(0, 30).every((t) => t === 5000)).toBe(true);
  expect(at.slice(30, 60).every((t) => t === 6000)).toBe(true);
  expect(at.slice(60, 90).every((t) => t === 7000)).toBe(true);
  expect(at.slice(90).every((t) => t === 8000)).toBe(true);
});

test("leases already spread out are left alone, and pushed ones lift the ones behind them", () => {
  const e: Expiry[] = [
    ...burst(3, 0),
    { id: 10n, expiresAtMs: 500 }, // would land in the full first window: lifted to 1000
    { id: 11n, expiresAtMs: 1200 }, // inside the second window: stays
    { id: 12n, expiresAtMs: 5000 }, // a gap: its own window
  ];
  expect(spreadExpiries(e, 4)).toBe(1);
  expect(e.map((x) => x.expiresAtMs)).toEqual([0, 0, 0, 1000, 1200, 5000]);
});
