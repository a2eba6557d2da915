/** The pieces of `-w fields` every response shares: the header and a key-value. */
import type { KeyValue, ResponseHeader } from "../../client/index.ts";
import { goQuoteBytes } from "./go-quote.ts";

export function fieldsHeader(h: ResponseHeader): string {
  return `"ClusterID" : ${h.clusterId}\n"MemberID" : ${h.memberId}\n"Revision" : ${h.revision}\n"RaftTerm" : ${h.raftTerm}\n`;
}

export function fieldsKv(prefix: string, kv: KeyValue): string {
  return (
    `"${prefix}Key" : ${goQuoteBytes(kv.key)}\n` +
    `"${prefix}CreateRevision" : ${kv.createRevision}\n` +
    `"${prefix}ModRevision" : ${kv.modRevision}\n` +
    `"${prefix}Version" : ${kv.version}\n` +
    `"${prefix}Value" : ${goQuoteBytes(kv.value)}\n` +
    `"${prefix}Lease" : ${kv.lease}\n`
  );
}
