/** Every etcdctl command, in etcdctl's order of registration. */
import type { Command } from "../command.ts";
import { versionCommand } from "./version.ts";

export const COMMANDS: readonly Command[] = [versionCommand];
