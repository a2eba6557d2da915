import { describe, expect, test } from "bun:test";
import { parseUrl, parseUrlList, urlKey } from "./urls";

const rules = { example: "http://10.0.0.1:2379", allowPortZero: false };

describe("parseUrl", () => {
  test("splits http and https URLs into parts", () => {
    expect(parseUrl("http://10.0.0.1:2379", rules)).toEqual({ url: "http://10.0.0.1:2379", protocol: "http", hostname: "10.0.0.1", port: 2379 });
    expect(parseUrl(" HTTPS://Node1-IP:443 ", rules)).toEqual({ url: "HTTPS://Node1-IP:443", protocol: "https", hostname: "node1-ip", port: 443 });
    expect(parseUrl("http://[::1]:2380", rules)).toMatchObject({ hostname: "::1", port: 2380 });
    expect(parseUrl("http://0.0.0.0:4001", rules)).toMatchObject({ hostname: "0.0.0.0", port: 4001 });
  });

  test("accepts unix and unixs socket URLs in etcd's host:port form (the socket file's name)", () => {
    expect(parseUrl("unix://etcd.unix:1", rules)).toEqual({ url: "unix://etcd.unix:1", protocol: "unix", hostname: "etcd.unix", port: 1 });
    expect(parseUrl("unixs://localhost:2379", rules)).toMatchObject({ protocol: "unixs", hostname: "localhost", port: 2379 });
  });

  test.each([
    ["localhost:2379", "is not a URL"],
    ["http://localhost", "has no port"],
    ["http://localhost:", "has no port"],
    ["http://:2379", "has no valid host"],
    ["http://localhost:2379/", "has a path"],
    ["http://localhost:2379/v3", "has a path"],
    ["http://user:pw@localhost:2379", "user credentials"],
    ["ftp://localhost:21", 'unsupported scheme "ftp"'],
    ["unix://etcd.sock", "has no port"],
    ["unix:///run/etcd.sock", "has a path"],
    ["http://localhost:65536", "outside 1-65535"],
    ["http://localhost:0", "outside 1-65535"],
    ["http://bad host:2379", "invalid host"],
    ["http://::1:2379", "has no valid host"],
  ])("rejects %p (%s)", (text, problem) => {
    expect(() => parseUrl(text, rules)).toThrow(problem);
    expect(() => parseUrl(text, rules)).toThrow("such as http://10.0.0.1:2379");
  });

  test("port 0 only where listening allows it", () => {
    expect(parseUrl("http://127.0.0.1:0", { ...rules, allowPortZero: true }).port).toBe(0);
  });
});

describe("parseUrlList", () => {
  test("reads comma-separated URLs in order", () => {
    const urls = parseUrlList("http://node1-ip:2379, http://127.0.0.1:2379,", { ...rules, allowEmpty: false });
    expect(urls.map((u) => u.url)).toEqual(["http://node1-ip:2379", "http://127.0.0.1:2379"]);
  });

  test("empty lists only where allowed", () => {
    expect(parseUrlList("", { ...rules, allowEmpty: true })).toEqual([]);
    expect(() => parseUrlList(" , ", { ...rules, allowEmpty: false })).toThrow("expected at least one URL");
  });
});

test("urlKey ignores case differences", () => {
  expect(urlKey(parseUrl("HTTP://Host:1", rules))).toBe(urlKey(parseUrl("http://host:1", rules)));
  expect(urlKey(parseUrl("http://[::1]:1", rules))).toBe("http://[::1]:1");
});
