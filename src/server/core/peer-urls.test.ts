import { expect, test } from "bun:test";
import { validPeerUrls } from "./server.ts";

test("member peer URLs: http(s)://host:port with a real port, nothing else", () => {
  for (const ok of [["http://127.0.0.1:2380"], ["https://node1:2380/"], ["http://[::1]:2380"], ["http://a:80", "http://b:2380"]]) {
    expect(validPeerUrls(ok)).toBe(true);
  }
  for (const bad of [[], ["http://127.0.0.1:429991"], ["http://127.0.0.1:0"], ["http://127.0.0.1"], ["127.0.0.1:2380"], ["unix://x:1"], ["http://h:2380/path"], ["http://h:2380?x=1"], ["http://:2380"], ["http://ok:1", "http://bad:99999"]]) {
    expect(validPeerUrls(bad)).toBe(false);
  }
});
