#!/usr/bin/env bun
// npm run bench                  — the server against the real etcd 3.4 (bench/run.ts)
// npm run bench -- --members 3   — 3-member clusters of both, put and linearizable range (bench/cluster.ts)
// npm run bench -- raft          — the Raft core alone, in memory (bench/raft.ts)
// npm run bench -- failover      — kill -9 the leader of 3-member clusters of both, time to the next write (bench/failover.ts)
// npm run bench -- defrag        — Defragment of a ~290 MB database under a stream of requests, both servers (bench/defrag.ts)
// npm run bench -- compaction    — the event-loop gap of a compaction of 400k revisions, synchronous vs in slices (bench/compaction.ts)
// npm run bench -- watch         — watch fan-out: 10,000 watchers on 1,000 keys under 1,000 puts/s, both servers (bench/watch.ts)
// npm run bench -- scale         — memory and per-request cost as the store grows to 1M keys, and a Range of all of them, both servers (bench/scale.ts)
// npm run bench -- startup       — etcdctl calls and etcd --version against the real ones, start and restart to the first answered Put (bench/startup.ts)
// npm run bench -- profile       — where one member spends its CPU under a put load, by stage and by thread (bench/profile.ts)
const i = process.argv.findIndex((a) => a === "--members" || a.startsWith("--members="));
const members = i < 0 ? 1 : Number(process.argv[i].includes("=") ? process.argv[i].split("=")[1] : process.argv[i + 1]);
if (process.argv[2] === "raft") await import("./raft.ts");
else if (process.argv[2] === "failover") await import("./failover.ts");
else if (process.argv[2] === "defrag") await import("./defrag.ts");
else if (process.argv[2] === "compaction") await import("./compaction.ts");
else if (process.argv[2] === "watch") await import("./watch.ts");
else if (process.argv[2] === "scale") await import("./scale.ts");
else if (process.argv[2] === "startup") await import("./startup.ts");
else if (process.argv[2] === "profile") await import("./profile.ts");
else if (members > 1) await import("./cluster.ts");
else {
  // --members 1 is the single-member bench, which knows no --members flag.
  if (i >= 0) process.argv.splice(i, process.argv[i].includes("=") ? 1 : 2);
  await import("./run.ts");
}
export {};
