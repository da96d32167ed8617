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
 * The real controllers keep informers: they watch every deletable kind and act on the events. This watches every
 * deletable kind too, but only to know that something changed: a pass then lists everything and acts, at most once
 * every INTERVAL_MS, and again each INTERVAL_MS while anything is still being deleted. An API where nothing changes
 * is not listed at all (a pass lists about 90 kinds).
 */
import { type KubeClient, type KubeObject, watchStream } from "../lib/kubeClient";

export const INTERVAL_MS = 1000;
/** How often the list of kinds is discovered again (a CRD installed or removed since), in ms. */
const REDISCOVER_MS = 15_000;
/** The longest wait before a failed watch is opened again. */
const WATCH_RETRY_MAX_MS = 10_000;

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
  /** Something is still being deleted (a deletionTimestamp): the next pass may have more to do. */
  pending: boolean;
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
  return { actions, pending: items.some((i) => deleting(i.obj)) };
}

const name = (o: KubeObject) =>
  `${o.metadata?.namespace === undefined ? "" : `${o.metadata.namespace as string}/`}${o.metadata?.name as string}`;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Runs both controllers until `signal` aborts, logging each action. An API that does not answer (a reboot) is
 * retried: its watches are opened again, and the pass runs at the next tick; nothing here exits on its own.
 */
export async function runDeletionControllers(
  client: KubeClient,
  opts: { signal: AbortSignal; log: (line: string) => void; intervalMs?: number },
): Promise<void> {
  const intervalMs = opts.intervalMs ?? INTERVAL_MS;
  let changed = true;
  const watches = new Map<string, AbortController>();
  // One watch per kind, opened again whenever it ends. Each (re)opening starts with the kind's objects as ADDED
  // events (a watch without resourceVersion), so nothing that happened while it was closed is missed.
  const watch = async (kind: Kind, stop: AbortController) => {
    for (let retryMs = intervalMs; !stop.signal.aborted; retryMs = Math.min(retryMs * 2, WATCH_RETRY_MAX_MS)) {
      try {
        await watchStream(client.target, `${kind.base}?watch=1`, {
          signal: stop.signal,
          onLine: () => {
            changed = true;
            retryMs = intervalMs;
          },
        });
      } catch {
        // The API is down, or the kind went (its CRD deleted): opened again, later.
      }
      changed = true;
      await sleep(retryMs, stop.signal);
    }
  };
  let kinds: Kind[] | undefined;
  let discovered = 0;
  while (!opts.signal.aborted) {
    try {
      if (kinds === undefined || Date.now() - discovered >= REDISCOVER_MS) {
        kinds = await deletableKinds(client);
        discovered = Date.now();
        for (const k of kinds)
          if (!watches.has(k.base)) {
            const stop = new AbortController();
            watches.set(k.base, stop);
            void watch(k, stop);
          }
        for (const [base, stop] of watches)
          if (!kinds.some((k) => k.base === base)) {
            stop.abort();
            watches.delete(base);
          }
      }
      if (changed) {
        changed = false;
        const pass = await deletionPass(client, kinds);
        for (const a of pass.actions) opts.log(a);
        if (pass.pending || pass.actions.length > 0) changed = true;
      }
    } catch (err) {
      kinds = undefined;
      changed = true;
      opts.log(`deletion controllers: ${(err as Error).message}; retrying`);
    }
    await sleep(intervalMs, opts.signal);
  }
  for (const stop of watches.values()) stop.abort();
}
