#!/usr/bin/env bun
// npm run bench            — the server against the real etcd 3.4 (bench/run.ts)
// npm run bench -- raft    — the Raft core alone, in memory (bench/raft.ts)
if (process.argv[2] === "raft") await import("./raft.ts");
else await import("./run.ts");
export {};
