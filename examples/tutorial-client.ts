// The tutorial's Go client program (put, get, delete, prefixes, a transaction, a lease, watches),
// written with etcd-ts's TypeScript client. Run: bun examples/tutorial-client.ts [endpoint…]
// (under Node: npm run build:client, then import from dist/client.js).
import { Client, compare, op, type KeyValue } from "../src/client/index.ts";

const endpoints = process.argv.slice(2).length ? process.argv.slice(2) : ["127.0.0.1:2379"];
const etcd = new Client({ endpoints, dialTimeoutMs: 5000, requestTimeoutMs: 2000 });

const putValue = (key: string, value: string) => etcd.put(key, value);
const getValue = async (key: string): Promise<KeyValue[]> => (await etcd.get(key)).kvs;
const delValue = async (key: string): Promise<bigint> => (await etcd.delete(key)).deleted;
const getValueWithPrefix = async (prefix: string) => (await etcd.get(prefix, { prefix: true })).kvs;
const delValueWithPrefix = async (prefix: string) => (await etcd.delete(prefix, { prefix: true })).deleted;
const show = (kvs: KeyValue[]) => `[${kvs.map((kv) => `${kv.key}=${kv.value}`).join(" ")}]`;

// 添加 / 查找 / 删除 (put, get, delete)
await putValue("a", "abc");
console.log(show(await getValue("a")));
console.log(`delete: ${await delValue("a")}`);

// 按前缀查找, 按前缀删除 (by prefix)
await putValue("b1", "abc1");
await putValue("b2", "abc2");
await putValue("b3", "abc3");
for (const kv of await getValueWithPrefix("b")) console.log(kv.key.toString(), kv.value.toString());
console.log(`批量删除: ${await delValueWithPrefix("b")}`);

// 事务处理 (a transaction)
await putValue("user1", "zhangsan");
await etcd.txn().if(compare.value("user1", "=", "zhangsan")).then(op.put("user1", "zhangsan")).else(op.put("user1", "lisi")).commit();
console.log("user1:", (await getValue("user1"))[0].value.toString());

// lease 设置有效时间 (a key that lives for one second)
const lease = await etcd.lease.grant(1);
await etcd.put("username", "wangwu", { lease });
await Bun.sleep(3000);
console.log("lease:", show(await getValue("username")));

// watch监听 (watch one key, and a range [fo0, fo3))
await putValue("w", "hello");
const one = etcd.watch("w");
const range = etcd.watch("fo0", { rangeEnd: "fo3" });
await Promise.all([one.ready, range.ready]);
const print = async (w: typeof one, label: string, last: string) => {
  for await (const ev of w) {
    console.log(`${label} ${ev.type.toUpperCase()} ${ev.kv.key} ${JSON.stringify(ev.kv.value.toString())}`);
    if (ev.kv.key.toString() === last) return;
  }
};
const printed = Promise.all([print(one, "watch>>w", "w"), print(range, "watch range  --", "fo2.5")]);
await putValue("w", "hello world!");
for (const [k, v] of [["fo0", "b"], ["fo1", "b"], ["fo2", "c"], ["fo2.5", "c"], ["fo3", "c"]]) await putValue(k, v);
await printed;
etcd.close();
