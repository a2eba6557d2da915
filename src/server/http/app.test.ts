import { expect, test } from "bun:test";
import { createHttpApp } from "./app.ts";

const versions = () => ({ etcdserver: "3.5.0", etcdcluster: "3.5.0", "etcd-ts": "0.1.0" });

test("/health is true with a leader and no alarm", async () => {
  const app = createHttpApp({ hasLeader: () => true, alarms: () => [], versions });
  const res = await app.request("/health");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ health: "true", reason: "" });
});

test("/health is false without a leader or with an alarm", async () => {
  const noLeader = createHttpApp({ hasLeader: () => false, alarms: () => [], versions });
  expect(((await (await noLeader.request("/health")).json()) as { health: string }).health).toBe("false");
  const alarm = createHttpApp({ hasLeader: () => true, alarms: () => ["NOSPACE"], versions });
  const res = await alarm.request("/health");
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({ health: "false", reason: "ALARM NOSPACE" });
});

test("/version reports the etcd API level and our own version beside it", async () => {
  const app = createHttpApp({ hasLeader: () => true, alarms: () => [], versions });
  expect(await (await app.request("/version")).json()).toEqual(versions());
});
