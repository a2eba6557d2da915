// Keeps deploy/kubernetes/*.yaml deployable: every object is checked against the Kubernetes API
// schema (kubernetes-models ships the OpenAPI schemas as compiled validators, so this runs offline),
// and the etcd flags in the manifests go through the server's own config loader, so a manifest
// cannot drift from the flags, ports and HTTP paths etcd-ts really has.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { createHttpApp } from "../../src/server/http/app.ts";

const DEPLOY = resolve(import.meta.dir, "../../deploy");
const MANIFESTS = join(DEPLOY, "kubernetes");

// The manifests are plain data; these types name only the fields the checks below read.
type Obj = Record<string, any>;
interface Doc {
  file: string;
  obj: Obj;
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: Obj }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Obj;
  livenessProbe?: Obj;
  startupProbe?: Obj;
  securityContext?: Obj;
  volumeMounts?: { name: string; mountPath: string }[];
}

function loadManifests(): Doc[] {
  const files = readdirSync(MANIFESTS).filter((f) => /\.ya?ml$/.test(f)).sort();
  const docs: Doc[] = [];
  for (const file of files) {
    for (const d of parseAllDocuments(readFileSync(join(MANIFESTS, file), "utf8"))) {
      if (d.errors.length) throw new Error(`Cannot parse ${file}: ${d.errors.map((e) => e.message).join("; ")}`);
      const obj = d.toJS();
      if (obj !== null) docs.push({ file, obj }); // a leading `---` yields an empty document
    }
  }
  return docs;
}

/**
 * Validates one object against the schema of its apiVersion and kind, found by the package's
 * module layout (apps/v1 → kubernetes-models/apps/v1, the core group v1 → kubernetes-models/v1).
 * Throws with the schema's errors; an unknown apiVersion or kind is an error too.
 */
async function validateObject(obj: Obj): Promise<void> {
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string") throw new Error("Object has no apiVersion or kind");
  let group: Record<string, unknown>;
  try {
    group = await import(`kubernetes-models/${apiVersion}`);
  } catch {
    throw new Error(`Unknown apiVersion '${apiVersion}'`);
  }
  const Model = group[kind] as (new (data: Obj) => { validate(): void }) | undefined;
  if (typeof Model !== "function") throw new Error(`Unknown kind '${kind}' in apiVersion '${apiVersion}'`);
  new Model(obj).validate();
}

/** A workload's pod template spec: the StatefulSet's template, or a Pod itself. */
function podSpecOf(obj: Obj): Obj | undefined {
  if (obj.kind === "Pod") return obj.spec;
  if (obj.kind === "StatefulSet") return obj.spec.template.spec;
  return undefined;
}

function podLabelsOf(obj: Obj): Record<string, string> {
  return (obj.kind === "Pod" ? obj.metadata.labels : obj.spec.template.metadata.labels) ?? {};
}

const docs = loadManifests();
const byKind = (kind: string): Doc[] => docs.filter((d) => d.obj.kind === kind);
const statefulSet = byKind("StatefulSet")[0]!.obj;
const staticPod = byKind("Pod")[0]!.obj;

// What a member of each workload would see: Kubernetes expands $(VAR) from the container's env
// (POD_NAME, NAMESPACE from the downward API), the operator fills ${VAR} in the static pod.
const STATIC_POD_VALUES: Record<string, string> = {
  NODE_NAME: "master1",
  NODE_IP: "10.0.0.11",
  INITIAL_CLUSTER: "master1=http://10.0.0.11:2380,master2=http://10.0.0.12:2380,master3=http://10.0.0.13:2380",
};
const NAMESPACE = "etcd-test";

/** The downward-API value of an env entry for a given pod, or its literal value. */
function envValue(entry: NonNullable<Container["env"]>[number], podName: string): string | undefined {
  if (entry.value !== undefined) return entry.value;
  const field = entry.valueFrom?.fieldRef?.fieldPath;
  if (field === "metadata.name") return podName;
  if (field === "metadata.namespace") return NAMESPACE;
  return undefined;
}

/** The etcd command line of a container, as the server receives it (without the executable). */
function etcdArgv(container: Container, podName: string, placeholders: Record<string, string> = {}): string[] {
  const env = new Map<string, string>();
  for (const e of container.env ?? []) {
    const v = envValue(e, podName);
    if (v !== undefined) env.set(e.name, v);
  }
  // The image's ENTRYPOINT is the binary; a command that names it replaces it with itself.
  const command = container.command ?? [];
  if (command.length && command[0] !== "/usr/bin/etcd") throw new Error(`Container ${container.name} runs ${command[0]}, not /usr/bin/etcd`);
  const argv = [...command.slice(1), ...(container.args ?? [])];
  return argv.map((arg) => {
    const expanded = arg
      .replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env.get(name) ?? ref)
      .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (ref, name: string) => placeholders[name] ?? ref);
    // Kubernetes leaves a reference to an undefined variable as written: the member would get it literally.
    if (/\$[({]/.test(expanded)) throw new Error(`Unresolved variable in '${arg}' for ${podName}`);
    return expanded;
  });
}

function loadRun(argv: string[]): Config {
  const result = loadConfig(argv, {});
  if (result.kind !== "run") throw new Error(`Expected a server command line, got ${result.kind}`);
  return result.config;
}

function etcdContainer(obj: Obj): Container {
  const container = (podSpecOf(obj)!.containers as Container[]).find((c) => c.name === "etcd");
  if (!container) throw new Error(`${obj.kind} ${obj.metadata.name} has no container named etcd`);
  return container;
}

/** The port number a probe or Service names (a port name or a number). */
function resolvePort(container: Container, port: string | number): number {
  if (typeof port === "number") return port;
  const found = container.ports?.find((p) => p.name === port);
  if (!found) throw new Error(`Container ${container.name} has no port named '${port}'`);
  return found.containerPort;
}

describe("Kubernetes manifests match the API schema", () => {
  test("every manifest has objects, each with an apiVersion and kind", () => {
    expect(new Set(docs.map((d) => d.file))).toEqual(new Set(["statefulset.yaml", "static-pod.yaml"]));
    expect(docs.map((d) => `${d.file}: ${d.obj.apiVersion} ${d.obj.kind}`)).toEqual([
      "statefulset.yaml: v1 Service",
      "statefulset.yaml: v1 Service",
      "statefulset.yaml: apps/v1 StatefulSet",
      "statefulset.yaml: policy/v1 PodDisruptionBudget",
      "static-pod.yaml: v1 Pod",
    ]);
  });

  for (const { file, obj } of docs) {
    test(`${file}: ${obj.kind} ${obj.metadata?.name} is valid`, async () => {
      await validateObject(obj);
    });
  }

  test("the validator rejects a port given as a string (so the checks above can fail)", async () => {
    const broken = structuredClone(statefulSet);
    broken.spec.template.spec.containers[0].ports[0].containerPort = "2379";
    await expect(validateObject(statefulSet)).resolves.toBeUndefined();
    await expect(validateObject(broken)).rejects.toThrow(/containerPort must be integer/);
  });

  test("the validator rejects a missing required field and an unknown kind", async () => {
    const noContainers = structuredClone(staticPod);
    delete noContainers.spec.containers;
    await expect(validateObject(noContainers)).rejects.toThrow(/containers/);
    await expect(validateObject({ ...staticPod, kind: "Podd" })).rejects.toThrow(/Unknown kind 'Podd'/);
    await expect(validateObject({ ...staticPod, apiVersion: "apps/v0" })).rejects.toThrow(/Unknown apiVersion 'apps\/v0'/);
  });
});

describe("the StatefulSet", () => {
  const replicas: number = statefulSet.spec.replicas;
  const container = etcdContainer(statefulSet);
  const podNames = Array.from({ length: replicas }, (_, i) => `${statefulSet.metadata.name}-${i}`);

  test("every member's command line is accepted by etcd-ts and names the member after its pod", () => {
    expect(replicas).toBe(3);
    for (const pod of podNames) {
      const config = loadRun(etcdArgv(container, pod));
      expect(config.name).toBe(pod);
      expect(config.initialClusterState).toBe("new");
      expect(config.initialClusterToken).not.toBe("etcd-cluster"); // etcd's default: set one
      expect(config.initialAdvertisePeerUrls).toEqual([`http://${pod}.etcd.${NAMESPACE}.svc:2380`]);
      expect(config.advertiseClientUrls).toEqual([`http://${pod}.etcd.${NAMESPACE}.svc:2379`]);
      // Every pod of the StatefulSet, and nothing else, bootstraps the cluster.
      expect([...config.initialCluster.keys()]).toEqual(podNames);
    }
  });

  test("a misspelt flag or an unknown variable would fail the check above", () => {
    const typo = { ...container, args: [...container.args!, "--initial-cluster-tokn=x"] };
    expect(() => loadRun(etcdArgv(typo, "etcd-0"))).toThrow(/initial-cluster-tokn/);
    const unknownVar = { ...container, args: ["--name=$(POD_NAM)"] };
    expect(() => etcdArgv(unknownVar, "etcd-0")).toThrow(/Unresolved variable/);
  });

  test("listens on all addresses, on the ports the container declares", () => {
    const config = loadRun(etcdArgv(container, "etcd-0"));
    const [client] = config.parsedUrls.listenClientUrls;
    const [peer] = config.parsedUrls.listenPeerUrls;
    expect(client!.hostname).toBe("0.0.0.0");
    expect(peer!.hostname).toBe("0.0.0.0");
    expect(resolvePort(container, "client")).toBe(client!.port);
    expect(resolvePort(container, "peer")).toBe(peer!.port);
    expect(config.parsedUrls.advertiseClientUrls[0]!.port).toBe(client!.port);
    expect(config.parsedUrls.initialAdvertisePeerUrls[0]!.port).toBe(peer!.port);
    expect(container.ports!.map((p) => p.containerPort).sort()).toEqual([client!.port, peer!.port].sort());
  });

  test("keeps its data dir on the volume claim", () => {
    const config = loadRun(etcdArgv(container, "etcd-0"));
    const mount = container.volumeMounts!.find((m) => m.mountPath === config.dataDir);
    expect(mount?.name).toBe("data");
    expect(statefulSet.spec.volumeClaimTemplates.map((t: Obj) => t.metadata.name)).toContain("data");
  });

  test("peers find each other before they are ready, and all start together", () => {
    const headless = byKind("Service").find((d) => d.obj.metadata.name === statefulSet.spec.serviceName)!.obj;
    expect(headless.spec.clusterIP).toBe("None");
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(statefulSet.spec.podManagementPolicy).toBe("Parallel");
  });

  test("the Services select the pods and target ports they have", () => {
    const labels = podLabelsOf(statefulSet);
    const services = byKind("Service").map((d) => d.obj);
    expect(services.map((s) => s.metadata.name).sort()).toEqual(["etcd", "etcd-client"]);
    for (const svc of services) {
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(labels[k]).toBe(v);
      for (const p of svc.spec.ports) expect(resolvePort(container, p.targetPort)).toBe(p.port);
    }
    expect(statefulSet.spec.selector.matchLabels).toEqual(labels);
  });

  test("probes: ready when it can serve clients, alive while it waits for peers", () => {
    expect(container.readinessProbe!.httpGet).toMatchObject({ path: "/readyz", port: "client" });
    expect(container.livenessProbe!.httpGet).toMatchObject({ path: "/livez", port: "client" });
  });

  test("runs unprivileged with a read-only root filesystem", () => {
    const pod = podSpecOf(statefulSet)!;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532 });
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.image).toBe("etcd-ts:latest");
  });

  test("resource requests, spread over nodes, and a disruption budget that keeps a quorum", () => {
    expect(podSpecOf(statefulSet)!.containers[0].resources.requests).toHaveProperty("memory");
    const anti = podSpecOf(statefulSet)!.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
    expect(anti.podAffinityTerm).toMatchObject({ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: podLabelsOf(statefulSet) } });
    const pdb = byKind("PodDisruptionBudget")[0]!.obj;
    expect(pdb.spec.minAvailable).toBe(Math.floor(replicas / 2) + 1);
    expect(pdb.spec.selector.matchLabels).toEqual(podLabelsOf(statefulSet));
  });
});

describe("the static pod", () => {
  const container = etcdContainer(staticPod);
  const config = () => loadRun(etcdArgv(container, "etcd-master1", STATIC_POD_VALUES));

  test("its command line, with the placeholders filled in, is accepted by etcd-ts", () => {
    const c = config();
    expect(c.name).toBe("master1");
    expect(c.initialAdvertisePeerUrls).toEqual(["http://10.0.0.11:2380"]);
    expect(c.listenClientUrls).toEqual(["http://127.0.0.1:2379", "http://10.0.0.11:2379"]);
    expect(c.dataDir).toBe("/var/lib/etcd");
    // An unfilled placeholder is reported, not passed to etcd.
    expect(() => etcdArgv(container, "etcd-master1", {})).toThrow(/Unresolved variable/);
  });

  test("runs on the host network as a node-critical pod, with the data dir on the host", () => {
    expect(staticPod.spec.hostNetwork).toBe(true);
    expect(staticPod.spec.priorityClassName).toBe("system-node-critical");
    const mount = container.volumeMounts!.find((m) => m.mountPath === config().dataDir)!;
    const volume = staticPod.spec.volumes.find((v: Obj) => v.name === mount.name);
    expect(volume.hostPath.path).toBe("/var/lib/etcd");
  });

  test("declares the ports it listens on, and probes a port that listens on 127.0.0.1", () => {
    const c = config();
    const listening = [...c.parsedUrls.listenClientUrls, ...c.parsedUrls.listenPeerUrls, ...c.parsedUrls.listenMetricsUrls];
    expect(container.ports!.map((p) => p.containerPort).sort()).toEqual([...new Set(listening.map((u) => u.port))].sort());
    for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
      const { host, port } = probe!.httpGet;
      expect(host).toBe("127.0.0.1");
      // Only the client and metrics listeners serve HTTP.
      const http = [...c.parsedUrls.listenClientUrls, ...c.parsedUrls.listenMetricsUrls];
      expect(http.some((u) => u.port === resolvePort(container, port) && (u.hostname === "127.0.0.1" || u.hostname === "0.0.0.0"))).toBe(true);
    }
  });
});

test("every probe path is one the client port serves", async () => {
  const app = createHttpApp({
    hasLeader: () => true,
    alarms: () => [],
    versions: () => ({ etcdserver: "3.5.0", etcdcluster: "3.5.0", "etcd-ts": "0.1.0" }),
  });
  const paths = new Set<string>();
  for (const { obj } of docs) {
    const spec = podSpecOf(obj);
    for (const c of (spec?.containers ?? []) as Container[]) {
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) if (probe?.httpGet) paths.add(probe.httpGet.path);
    }
  }
  expect([...paths].sort()).toEqual(["/livez", "/readyz"]);
  for (const path of paths) expect((await app.request(path)).status).toBe(200);
});

describe("deploy/container/Dockerfile", () => {
  const dockerfile = readFileSync(join(DEPLOY, "container", "Dockerfile"), "utf8");
  // Instructions without comments; a trailing backslash continues a line.
  const lines = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const stageStarts = lines.flatMap((l, i) => (/^FROM\s/i.test(l) ? [i] : []));
  const finalStage = lines.slice(stageStarts.at(-1));

  test("packages the built binary, with etcdctl as a link to it", () => {
    expect(lines.some((l) => /^COPY\s+dist\/etcd\s/.test(l))).toBe(true);
    expect(lines.some((l) => /^RUN\s.*ln -s etcd \S*\/usr\/bin\/etcdctl/.test(l))).toBe(true);
    expect(finalStage).toContain('ENTRYPOINT ["/usr/bin/etcd"]');
  });

  test("runs as a non-root user and exposes the client and peer ports", () => {
    const user = finalStage.filter((l) => /^USER\s/.test(l)).at(-1);
    expect(user).toBeDefined();
    const [name] = user!.split(/\s+/)[1]!.split(":");
    expect(name).not.toBe("root");
    expect(name).not.toBe("0");
    // The manifests' runAsNonRoot needs a numeric user to check.
    expect(name).toBe(String(podSpecOf(statefulSet)!.securityContext.runAsUser));
    const exposed = finalStage.filter((l) => /^EXPOSE\s/.test(l)).flatMap((l) => l.split(/\s+/).slice(1));
    expect(exposed.sort()).toEqual(["2379", "2380"]);
  });
});
