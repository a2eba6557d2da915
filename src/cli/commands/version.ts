/** `etcdctl version`: the etcdctl and API versions we are a drop-in for, and our own beside them. */
import pkg from "../../../package.json" with { type: "json" };
import type { Command } from "../command.ts";
import { CTL_API_VERSION, CTL_VERSION } from "../help.ts";

export const versionCommand: Command = {
  name: "version",
  usage: "version",
  short: "Prints the version of etcdctl",
  async run(ctx) {
    ctx.out(`etcdctl version: ${CTL_VERSION}\nAPI version: ${CTL_API_VERSION}\netcd-ts version: ${pkg.version}\n`);
  },
};
