// etcdctl's v2 command line, the parts that need no server: Go's flag syntax, endpoints as the v2
// client reads them, its error texts, the help screens' layout, and the answer for the v2 commands
// etcd-ts does not run. (tests/e2e/etcdctl-diff-v2.test.ts runs it against the real etcdctl 3.4.)
import { describe, expect, test } from "bun:test";
import { fakeIo } from "../test-io.ts";
import { parseV2Flags, V2FlagError } from "./flags.ts";
import { rootHelp, V2_GLOBAL_FLAGS } from "./help.ts";
import { ClusterError, endpointsFrom, parseEndpoint } from "./http.ts";
import { runCtlV2 } from "./main.ts";

describe("Go's flag syntax", () => {
  test("-x, --x, -x=v, a value in the next argument; flags stop at the first argument or --", () => {
    const { values, rest } = parseV2Flags(V2_GLOBAL_FLAGS, ["-o", "json", "--no-sync", "--timeout=3s", "-C=http://a:1", "member", "--debug"]);
    expect(values).toEqual({ output: "json", "no-sync": true, timeout: 3000, peers: "http://a:1" });
    expect(rest).toEqual(["member", "--debug"]);
    expect(parseV2Flags(V2_GLOBAL_FLAGS, ["--debug", "--", "-v"]).rest).toEqual(["-v"]);
  });

  test("Go's errors: unknown flag, missing value, bad duration", () => {
    expect(() => parseV2Flags(V2_GLOBAL_FLAGS, ["--bogus"])).toThrow(new V2FlagError("flag provided but not defined: -bogus"));
    expect(() => parseV2Flags(V2_GLOBAL_FLAGS, ["--endpoints"])).toThrow("flag needs an argument: -endpoints");
    expect(() => parseV2Flags(V2_GLOBAL_FLAGS, ["--timeout", "1x"])).toThrow('invalid value "1x" for flag -timeout: parse error');
  });
});

describe("endpoints", () => {
  test("flags before variables, then v2's defaults; a missing scheme is http; host:port alone is Go's parse error", () => {
    expect(endpointsFrom({}, {})).toEqual(["http://127.0.0.1:2379", "http://127.0.0.1:4001"]);
    expect(endpointsFrom({ peers: "http://p:1" }, { ETCDCTL_ENDPOINTS: "http://e:1,https://f:2" })).toEqual(["http://e:1", "https://f:2"]);
    expect(endpointsFrom({ endpoint: "http://x:1" }, { ETCDCTL_PEERS: "http://p:1" })).toEqual(["http://x:1"]);
    expect(parseEndpoint("localhost")).toBe("http://localhost");
    expect(() => parseEndpoint("127.0.0.1:2379")).toThrow('parse "127.0.0.1:2379": first path segment in URL cannot contain colon');
  });

  test("a ClusterError reads as the v2 client's, with one line per endpoint in its detail", () => {
    const e = new ClusterError(["dial tcp 127.0.0.1:1: connect: connection refused", "client: etcd member http://b:2 has no leader"]);
    expect(e.message).toBe(
      "client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 127.0.0.1:1: connect: connection refused\n; error #1: client: etcd member http://b:2 has no leader\n",
    );
    expect(e.detail()).toBe("error #0: dial tcp 127.0.0.1:1: connect: connection refused\nerror #1: client: etcd member http://b:2 has no leader\n");
  });
});

test("the root help lays its columns out as urfave/cli's template", () => {
  const lines = rootHelp("3.5.0").split("\n");
  expect(lines.slice(0, 9)).toEqual(["NAME:", "   etcdctl - A simple command line client for etcd.", "", "USAGE:", "   etcdctl [global options] command [command options] [arguments...]", "", "VERSION:", "   3.5.0", ""]);
  expect(lines).toContain("   cluster-health  check the health of the etcd cluster");
  expect(lines).toContain("   --version, -v                    print the version");
});

describe("the v2 commands etcd-ts does not run", () => {
  const answer = async (...argv: string[]) => {
    const f = fakeIo();
    const code = await runCtlV2(argv, f.io);
    return { code, out: f.out(), err: f.err() };
  };

  test("name the command, the missing v2 key space, and the v3 command with the arguments given", async () => {
    expect(await answer("get", "/foo")).toEqual({
      code: 1,
      out: "",
      err: 'Error: "etcdctl get" is an etcd v2 command, and etcd-ts has no v2 key space (it serves the etcd v3 API).\nUse the v3 command instead: ETCDCTL_API=3 etcdctl get /foo\n',
    });
    expect((await answer("watch", "-r", "/dir")).err).toEndWith("ETCDCTL_API=3 etcdctl watch --prefix /dir\n");
    expect((await answer("exec-watch", "/k", "--", "sh", "-c", "ls")).err).toEndWith("ETCDCTL_API=3 etcdctl watch /k -- sh -c ls\n");
    expect((await answer("set", "--ttl", "5", "/k", "v")).err).toEndWith("ETCDCTL_API=3 etcdctl put /k v --lease=<id> (after etcdctl lease grant <ttl>)\n");
    expect((await answer("member", "remove", "8e9e05c52164694d")).err).toEndWith("ETCDCTL_API=3 etcdctl member remove 8e9e05c52164694d\n");
    expect((await answer("user", "revoke", "bob", "--roles", "r1,r2")).err).toStartWith('Error: "etcdctl user revoke" is an etcd v2 command');
    expect((await answer("role", "revoke", "r1", "--path=/k", "--read")).err).toEndWith("ETCDCTL_API=3 etcdctl role revoke-permission r1 read /k\n");
    expect((await answer("backup", "--data-dir", "/var/lib/etcd")).err).toContain("there is no v2 data directory to back up");
  });

  test("help for one of them says the same; an unknown command has no help topic (exit 3)", async () => {
    expect((await answer("help", "ls")).err).toEndWith("ETCDCTL_API=3 etcdctl get --prefix --keys-only /\n");
    expect(await answer("frobnicate")).toEqual({ code: 3, out: "", err: "No help topic for 'frobnicate'\n" });
  });

  test("--discovery-srv is refused with what to do instead", async () => {
    const r = await answer("-D", "example.com", "member", "list");
    expect(r.code).toBe(1);
    expect(r.err).toContain("--discovery-srv");
  });
});
