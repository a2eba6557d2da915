import { Etcd3 } from "etcd3";
import { startMember, startRealEtcd, cleanup } from "./harness.ts";
for (const [s, n] of [[startMember, "ours"], [startRealEtcd, "real"]] as const) {
  const m = await s();
  const client = new Etcd3({ hosts: m.endpoint });
  try {
    await client.put("a").value("abc");
    console.log(n, await client.get("a").string());
    console.log(n, "del", await client.delete().key("a"));
    for (const k of ["b1","b2","b3"]) await client.put(k).value("v"+k);
    console.log(n, await client.getAll().prefix("b").strings());
    console.log(n, "delp", await client.delete().prefix("b"));
    const t = await client.if("user1", "Value", "==", "zhangsan").then(client.put("user1").value("zhangsan")).else(client.put("user1").value("lisi")).commit();
    console.log(n, "txn", t);
    console.log(n, await client.get("user1").string());
    console.log(n, await client.maintenance.status());
  } catch (e) { console.log(n, "ERR", e); }
  finally { client.close(); await m.stop(); cleanup(m); }
}
