/** Every etcdctl command, in etcdctl's order of registration. */
import type { Command } from "../command.ts";
import { alarmCommand } from "./alarm.ts";
import { authCommand } from "./auth.ts";
import { checkCommand } from "./check.ts";
import { clusterHealthCommand } from "./cluster-health.ts";
import { defragCommand } from "./defrag.ts";
import { endpointCommand } from "./endpoint.ts";
import { memberCommand } from "./member.ts";
import { moveLeaderCommand } from "./move-leader.ts";
import { compactionCommand } from "./compaction.ts";
import { delCommand } from "./del.ts";
import { getCommand } from "./get.ts";
import { putCommand } from "./put.ts";
import { roleCommand } from "./role.ts";
import { snapshotCommand } from "./snapshot.ts";
import { txnCommand } from "./txn.ts";
import { userCommand } from "./user.ts";
import { versionCommand } from "./version.ts";
import { watchCommand } from "./watch.ts";
import { electCommand } from "./elect.ts";
import { leaseCommand } from "./lease.ts";
import { lockCommand } from "./lock.ts";
import { makeMirrorCommand } from "./make-mirror.ts";

export const COMMANDS: readonly Command[] = [getCommand, putCommand, delCommand, txnCommand, compactionCommand, alarmCommand, defragCommand, endpointCommand, moveLeaderCommand, watchCommand, versionCommand, leaseCommand, memberCommand, makeMirrorCommand, lockCommand, electCommand, authCommand, userCommand, roleCommand, checkCommand, clusterHealthCommand, snapshotCommand];
