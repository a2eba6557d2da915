import { expect, test } from "bun:test";
import { goFixed, humanizeBytes } from "./humanize.ts";

// Expected strings from go-humanize's Bytes (go run against /usr/share/gocode) and real etcdctl output.
test("humanizeBytes prints sizes as go-humanize's Bytes", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [9, "9 B"],
    [10, "10 B"],
    [999, "999 B"],
    [1000, "1.0 kB"],
    [20480, "20 kB"],
    [24500, "24 kB"],
    [25000, "25 kB"],
    [24576, "25 kB"],
    [999_999, "1000 kB"],
    [1_000_000, "1.0 MB"],
    [1_050_000, "1.1 MB"],
    [5_148_672, "5.1 MB"],
    [2_147_483_648, "2.1 GB"],
    [82_854_982, "83 MB"],
  ];
  for (const [n, s] of cases) expect(humanizeBytes(n)).toBe(s);
  expect(humanizeBytes(123456789n)).toBe("124 MB");
});

test("goFixed rounds an exact tie to even, like Go's %f", () => {
  expect(goFixed(24.5, 0)).toBe("24");
  expect(goFixed(25.5, 0)).toBe("26");
  expect(goFixed(24.6, 0)).toBe("25");
  expect(goFixed(1.25, 1)).toBe("1.2");
  expect(goFixed(1.2, 1)).toBe("1.2");
});
