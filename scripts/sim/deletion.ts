/**
 * A double of the two kube-controller-manager controllers that finish deletes, for the sim's API servers (a k3s
 * server's, Karmada's), which run no controller-manager. Without them a namespace stays Terminating and an object
 * deleted with propagationPolicy Foreground (what pulumi-kubernetes sends by default) stays forever with its
 * `foregroundDeletion` finalizer, so `pulumi destroy` would wait out its bound on each. Kubernetes v1.31:
 * - the namespace controller (pkg/controller/namespace/deletion/namespaced_resources_deleter.go, Delete and
 *   deleteAllContent): a namespace with a deletionTimestamp has every object of every namespaced, deletable kind in
 *   it deleted; once none is left, the `kubernetes` finalizer is removed from spec.finalizers through the
 *   namespace's `finalize` subresource (retryOnConflictError + finalizeNamespace), and the API server removes the
 *   namespace;
 * - the garbage collector (pkg/controller/garbagecollector/garbagecollector.go): an owner being deleted in the
 *   foreground (processDeletingDependentsItem) has its dependents deleted, foreground too, and loses the
 *   `foregroundDeletion` finalizer once no dependent with blockOwnerDeletion is left; an `orphan` finalizer
 *   (orphanDependents) removes the owner reference from the dependents, then itself; a dependent whose owners are
 *   all gone (attemptToDeleteItem, the "all owners are absent" case) is deleted in the background.
 * The real controllers watch; this polls every INTERVAL_MS, which only makes deletes finish a little later.
 */
import type { KubeClient, KubeObject } from "../lib/kubeClient";

export const INTERVAL_MS = 1000;
/** How often the list of kinds is discovered again (a CRD installed or removed since). */
const REDISCOVER_EVERY = 15;

interface Kind {
  /** The collection path without namespace: /api/v1/configmaps, /apis/apps/v1/deployments. */
  base: string;
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
}

/** Every kind the API can list and delete, one version per group (its preferred one), as the controllers use. */
export async function deletableKinds(client: KubeClient): Promise<Kind[]> {
  const kinds: Kind[] = [];
  const add = async (group: string, version: string) => {
    const gv = group === "" ? version : `${group}/${version}`;
    const base = group === "" ? `/api/${version}` : `/apis/${gv}`;
    const r = await client.send("GET", base);
    if (r.status !== 200) return;
    for (const res of (r.json as { resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[] })
      .resources)
      if (!res.name.includes("/") && res.verbs.includes("list") && res.verbs.includes("delete"))
        kinds.push({
          base: `${base}/${res.name}`,
          group,
          version,
          resource: res.name,
          kind: res.kind,
          namespaced: res.namespaced,
        });
  };
  await add("", "v1");
  const groups = await client.send("GET", "/apis");
  if (groups.status === 200)
    for (const g of (groups.json as { groups: { name: string; preferredVersion: { version: string } }[] }).groups)
      await add(g.name, g.preferredVersion.version);
  return kinds;
}

/** A listed object with where it lives. */
interface Item {
  kind: Kind;
  obj: KubeObject;
}

const pathOf = (k: Kind, o: KubeObject) => {
  const ns = o.metadata?.namespace as string | undefined;
  const prefix = k.base.slice(0, k.base.length - k.resource.length - 1);
  return `${prefix}${ns !== undefined && k.namespaced ? `/namespaces/${encodeURIComponent(ns)}` : ""}/${k.resource}/${encodeURIComponent(o.metadata.name as string)}`;
};

async function listAll(client: KubeClient, kinds: Kind[]): Promise<Item[]> {
  const items: Item[] = [];
  for (const k of kinds) {
    const r = await client.send("GET", k.base);
    if (r.status !== 200) continue;
    for (const obj of (r.json as { items: KubeObject[] }).items) items.push({ kind: k, obj });
  }
  return items;
}

const deleting = (o: KubeObject) => o.metadata?.deletionTimestamp !== undefined;
const finalizersOf = (o: KubeObject) => (o.metadata?.finalizers ?? []) as string[];

/** What one pass does, for the log and the tests. */
export interface Pass {
  actions: string[];
}

/** One pass of both controllers over everything the API holds. */
export async function deletionPass(client: KubeClient, kinds: Kind[]): Promise<Pass> {
  const actions: string[] = [];
  const items = await listAll(client, kinds);
  const byUid = new Map(items.map((i) => [i.obj.metadata?.uid as string, i]));
  const del = async (i: Item, propagationPolicy: string, why: string) => {
    if (deleting(i.obj)) return;
    const r = await client.send("DELETE", pathOf(i.kind, i.obj), {
      kind: "DeleteOptions",
      apiVersion: "v1",
      propagationPolicy,
    });
    if (r.status < 300 || r.status === 404) actions.push(`deleted ${i.kind.kind} ${name(i.obj)} (${why})`);
  };
  const dropFinalizer = async (i: Item, finalizer: string) => {
    const r = await client.send(
      "PATCH",
      pathOf(i.kind, i.obj),
      {
        metadata: {
          finalizers: finalizersOf(i.obj).filter((f) => f !== finalizer),
          resourceVersion: i.obj.metadata.resourceVersion,
        },
      },
      "application/merge-patch+json",
    );
    if (r.status < 300) actions.push(`removed finalizer ${finalizer} from ${i.kind.kind} ${name(i.obj)}`);
  };
  const dependentsOf = (uid: string) =>
    items.filter((d) => ((d.obj.metadata?.ownerReferences ?? []) as { uid: string }[]).some((o) => o.uid === uid));

  for (const i of items) {
    const uid = i.obj.metadata?.uid as string;
    // The garbage collector: foreground and orphan deletes of owners.
    if (deleting(i.obj) && finalizersOf(i.obj).includes("foregroundDeletion")) {
      const dependents = dependentsOf(uid);
      for (const d of dependents)
        await del(d, "Foreground", `its owner ${i.kind.kind} ${name(i.obj)} is deleted in the foreground`);
      const blocking = dependents.filter((d) =>
        ((d.obj.metadata?.ownerReferences ?? []) as { uid: string; blockOwnerDeletion?: boolean }[]).some(
          (o) => o.uid === uid && o.blockOwnerDeletion === true,
        ),
      );
      if (blocking.length === 0) await dropFinalizer(i, "foregroundDeletion");
    }
    if (deleting(i.obj) && finalizersOf(i.obj).includes("orphan")) {
      for (const d of dependentsOf(uid)) {
        const owners = ((d.obj.metadata?.ownerReferences ?? []) as { uid: string }[]).filter((o) => o.uid !== uid);
        await client.send(
          "PATCH",
          pathOf(d.kind, d.obj),
          { metadata: { ownerReferences: owners.length === 0 ? null : owners } },
          "application/merge-patch+json",
        );
      }
      await dropFinalizer(i, "orphan");
    }
    // A dependent whose owners are all gone.
    const owners = (i.obj.metadata?.ownerReferences ?? []) as { uid: string }[];
    if (owners.length > 0 && owners.every((o) => !byUid.has(o.uid)))
      await del(i, "Background", "all its owners are gone");
  }

  // The namespace controller.
  for (const ns of items.filter((i) => i.kind.group === "" && i.kind.resource === "namespaces" && deleting(i.obj))) {
    const nsName = ns.obj.metadata.name as string;
    const content = items.filter((i) => i.kind.namespaced && i.obj.metadata?.namespace === nsName);
    for (const c of content) await del(c, "Background", `its namespace ${nsName} is deleted`);
    const spec = (ns.obj.spec?.finalizers ?? []) as string[];
    if (content.length === 0 && spec.includes("kubernetes")) {
      const body = { ...ns.obj, spec: { ...ns.obj.spec, finalizers: spec.filter((f) => f !== "kubernetes") } };
      const r = await client.send("PUT", `/api/v1/namespaces/${encodeURIComponent(nsName)}/finalize`, body);
      if (r.status < 300) actions.push(`finalized Namespace ${nsName}`);
    }
  }
  return { actions };
}

const name = (o: KubeObject) =>
  `${o.metadata?.namespace === undefined ? "" : `${o.metadata.namespace as string}/`}${o.metadata?.name as string}`;

/**
 * Runs both controllers until `signal` aborts, logging each action. An API that does not answer (a reboot) is
 * retried at the next pass; nothing here exits on its own.
 */
export async function runDeletionControllers(
  client: KubeClient,
  opts: { signal: AbortSignal; log: (line: string) => void; intervalMs?: number },
): Promise<void> {
  let kinds: Kind[] | undefined;
  for (let pass = 0; !opts.signal.aborted; pass++) {
    try {
      if (kinds === undefined || pass % REDISCOVER_EVERY === 0) kinds = await deletableKinds(client);
      for (const a of (await deletionPass(client, kinds)).actions) opts.log(a);
    } catch (err) {
      kinds = undefined;
      opts.log(`deletion controllers: ${(err as Error).message}; retrying`);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, opts.intervalMs ?? INTERVAL_MS);
      opts.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}
