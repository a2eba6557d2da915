/** Concurrency recipes on top of the client (clientv3/concurrency and contrib/recipes). */
export { Session, DEFAULT_SESSION_TTL_SECONDS, type SessionOptions } from "./session.ts";
export { Mutex } from "./mutex.ts";
export { Election } from "./election.ts";
export { Queue } from "./queue.ts";
export { stm, type Isolation, type Stm, type StmOptions } from "./stm.ts";
export { ConcurrencyErrors } from "./errors.ts";
