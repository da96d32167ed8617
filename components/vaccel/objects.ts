/**
 * The vAccel object-detection pipeline as Kubernetes objects, sent to the Karmada API and propagated to the member
 * cluster that holds both nodes: the RPC agent on the GPU node (the Jetson) behind a Service, the detection app on
 * the client node (the Pi) reading its backend from a ConfigMap. The shapes follow Nubificus' Kubernetes examples
 * (vaccel-docs "deploying vAccel applications using Kubernetes": `vaccel-rpc-agent -a tcp://0.0.0.0:<port>`, a
 * ClusterIP Service, the client's VACCEL_RPC_ADDRESS=tcp://<service>:<port>); see the README.
 */
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment" with { "resolution-mode": "import" };
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap" with { "resolution-mode": "import" };
import type { INamespace } from "kubernetes-models/v1/Namespace" with { "resolution-mode": "import" };
import type { IService } from "kubernetes-models/v1/Service" with { "resolution-mode": "import" };
import type { VaccelSpec } from "../spec/schema";
import { type Backend, backendConfigData, backendConfigHash } from "./backend";

/**
 * Namespace of the pipeline. Karmada propagates a namespace to every member by itself
 * (pkg/controllers/namespace/namespace_sync_controller.go:110-121 at v1.13.0: all but reserved and skipped ones).
 */
export const VACCEL_NAMESPACE = "vaccel-demo";
export const AGENT_NAME = "vaccel-rpc-agent";
export const APP_NAME = "object-detection";
export const BACKEND_CONFIGMAP = "vaccel-backend";
export const POLICY_NAME = "vaccel-pipeline";
/** The RuntimeClass the Jetson's k3s agent registers for the NVIDIA container runtime. */
export const NVIDIA_RUNTIME_CLASS = "nvidia";
/** Pod-template annotation carrying backendConfigHash: a changed backend rolls the app's pods. */
export const BACKEND_HASH_ANNOTATION = "testbed.mlsysops.eu/vaccel-backend";
/** The label k3s sets from --node-name, which the provisioner sets to the spec's host name. */
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

export interface PipelineArgs {
  /** The member cluster both nodes belong to. */
  member: string;
  /** Spec host names (= k3s node names) of the client (Pi) and the GPU node (Jetson). */
  clientNode: string;
  gpuNode: string;
  agentImage: string;
  appImage: string;
  port: number;
  backend: Backend;
}

/**
 * The pipeline's arguments from testbed:vaccel and the member holding its nodes: one mapping for the program
 * (pipeline.ts), which creates the objects, and `backend`/`reset` (scripts/lib/demo.ts), which compare against them.
 */
export function pipelineArgs(
  spec: Pick<VaccelSpec, "clientNode" | "gpuNode" | "agentImage" | "appImage" | "port" | "backend">,
  member: string,
): PipelineArgs {
  const { clientNode, gpuNode, agentImage, appImage, port, backend } = spec;
  return { member, clientNode, gpuNode, agentImage, appImage, port, backend };
}

const PART_OF = { "app.kubernetes.io/part-of": "vaccel-demo" };

function labels(name: string): Record<string, string> {
  return { "app.kubernetes.io/name": name, ...PART_OF };
}

export function namespace(): INamespace {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: VACCEL_NAMESPACE, labels: { ...PART_OF } } };
}

export function backendConfigMap(backend: Backend, port: number): IConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: BACKEND_CONFIGMAP, namespace: VACCEL_NAMESPACE, labels: labels(APP_NAME) },
    data: backendConfigData(backend, AGENT_NAME, port),
  };
}

/** The RPC agent: one replica pinned to the GPU node, NVIDIA runtime, Ready once its port accepts connections. */
export function agentDeployment(args: Pick<PipelineArgs, "gpuNode" | "agentImage" | "port">): IDeployment {
  const l = labels(AGENT_NAME);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: AGENT_NAME, namespace: VACCEL_NAMESPACE, labels: l },
    spec: {
      replicas: 1,
      selector: { matchLabels: { "app.kubernetes.io/name": AGENT_NAME } },
      template: {
        metadata: { labels: l },
        spec: {
          runtimeClassName: NVIDIA_RUNTIME_CLASS,
          nodeSelector: { [HOSTNAME_LABEL]: args.gpuNode },
          containers: [
            {
              name: AGENT_NAME,
              image: args.agentImage,
              command: ["vaccel-rpc-agent"],
              args: ["-a", `tcp://0.0.0.0:${args.port}`],
              ports: [{ name: "rpc", containerPort: args.port, protocol: "TCP" }],
              readinessProbe: { tcpSocket: { port: "rpc" }, periodSeconds: 5, failureThreshold: 3 },
            },
          ],
        },
      },
    },
  };
}

export function agentService(port: number): IService {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: AGENT_NAME, namespace: VACCEL_NAMESPACE, labels: labels(AGENT_NAME) },
    spec: {
      type: "ClusterIP",
      selector: { "app.kubernetes.io/name": AGENT_NAME },
      ports: [{ name: "rpc", port, targetPort: "rpc", protocol: "TCP" }],
    },
  };
}

/** The detection app on the client node; its whole vAccel configuration comes from the backend ConfigMap. */
export function appDeployment(args: Pick<PipelineArgs, "clientNode" | "appImage" | "backend" | "port">): IDeployment {
  const l = labels(APP_NAME);
  const hash = backendConfigHash(backendConfigData(args.backend, AGENT_NAME, args.port));
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: APP_NAME, namespace: VACCEL_NAMESPACE, labels: l },
    spec: {
      replicas: 1,
      // One app at a time on the Pi: the old pod stops before the new backend's starts.
      strategy: { type: "Recreate" },
      selector: { matchLabels: { "app.kubernetes.io/name": APP_NAME } },
      template: {
        metadata: { labels: l, annotations: { [BACKEND_HASH_ANNOTATION]: hash } },
        spec: {
          nodeSelector: { [HOSTNAME_LABEL]: args.clientNode },
          containers: [
            {
              name: APP_NAME,
              image: args.appImage,
              envFrom: [{ configMapRef: { name: BACKEND_CONFIGMAP } }],
            },
          ],
        },
      },
    },
  };
}

export interface PropagationPolicy {
  apiVersion: "policy.karmada.io/v1alpha1";
  kind: "PropagationPolicy";
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    resourceSelectors: { apiVersion: string; kind: string; name: string }[];
    placement: { clusterAffinity: { clusterNames: string[] } };
  };
}

/** Propagates every namespaced object of the pipeline, by name, to the one member that holds both nodes. */
export function propagationPolicy(member: string, objects: { apiVersion: string; kind: string; name: string }[]) {
  const policy: PropagationPolicy = {
    apiVersion: "policy.karmada.io/v1alpha1",
    kind: "PropagationPolicy",
    metadata: { name: POLICY_NAME, namespace: VACCEL_NAMESPACE, labels: { ...PART_OF } },
    spec: {
      resourceSelectors: objects.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name })),
      placement: { clusterAffinity: { clusterNames: [member] } },
    },
  };
  return policy;
}

export interface Pipeline {
  namespace: INamespace;
  configMap: IConfigMap;
  agent: IDeployment;
  service: IService;
  app: IDeployment;
  policy: PropagationPolicy;
}

/** Every object of the pipeline, in the order they are created (the policy last, once its targets exist). */
export function pipelineObjects(args: PipelineArgs): Pipeline {
  const configMap = backendConfigMap(args.backend, args.port);
  const agent = agentDeployment(args);
  const service = agentService(args.port);
  const app = appDeployment(args);
  const ref = (o: { apiVersion: string; kind: string; metadata?: { name?: string } }) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: o.metadata?.name ?? "",
  });
  return {
    namespace: namespace(),
    configMap,
    agent,
    service,
    app,
    policy: propagationPolicy(args.member, [ref(configMap), ref(agent), ref(service), ref(app)]),
  };
}
