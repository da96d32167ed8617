import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { parsedBy } from "../remote/scriptStep";
import type { ClusterSpec, HostSpec } from "../spec";
import type { RemoteHost } from "../remote/host";
import { parseResult } from "../remote/script";
import {
  K3S_API_PORT,
  REBOOT_DIAL_ERROR_LIMIT,
  agentConfig,
  agentScript,
  credentialsScript,
  jetsonRuntimeScript,
  memoryCgroupScript,
  nodeScript,
  nodesReadyScript,
  piCgroupScript,
  serverConfig,
  serverScript,
} from "./scripts";

/** A node as the cluster sees it: its host and the address other nodes reach it on. */
export interface K3sNode {
  host: RemoteHost;
  address: pulumi.Input<string>;
  /** Steps on this host that must finish before k3s goes on it. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /**
   * Disk gate verdicts for this host ("pass", "warn", ...; gateVerdictOf): they go into the install script, so the
   * install is not created when a gate fails (the verdict's computation throws), and a changed verdict re-runs it as
   * an update. Only the verdict, not the measured figure: a re-measurement alone must not touch k3s.
   */
  gates?: pulumi.Input<string>[];
}

export interface K3sClusterArgs {
  cluster: ClusterSpec;
  server: K3sNode;
  agents: K3sNode[];
}

/** Labels every node gets besides the spec's: its board and architecture, for scheduling the vAccel pieces. */
export function nodeLabels(host: HostSpec): Record<string, string> {
  return { "testbed.io/board": host.board, "testbed.io/arch": host.arch, ...host.labels };
}

/**
 * The join token and admin kubeconfig (pointed at `url`) from the credentials step's stdout. parseResult's errors
 * quote what the step printed, here the secrets: this says what failed, never what it read.
 */
export function readCredentials(cluster: string, stdout: string, url: string): { token: string; kubeconfig: string } {
  let o: { token: string; kubeconfig: string } | undefined;
  try {
    o = parseResult(stdout).output as typeof o;
  } catch {
    throw new Error(`cluster ${cluster}: the credentials step's output is not readable (not shown: it holds secrets)`);
  }
  if (o === undefined) throw new Error(`cluster ${cluster}: the credentials step printed nothing`);
  const kubeconfig = Buffer.from(o.kubeconfig, "base64")
    .toString("utf8")
    .replace(/https:\/\/127\.0\.0\.1:6443/g, url);
  return { token: o.token, kubeconfig };
}

/**
 * One k3s cluster: the server (config, install, readiness), its credentials read back as secrets, board
 * preparation and the agents (in parallel, each after its own preparation), then a wait for every node Ready.
 */
export class K3sCluster extends pulumi.ComponentResource {
  readonly server: command.remote.Command;
  readonly agents: command.remote.Command[] = [];
  /** On the server, one per agent: their deletes remove the agents' Nodes before the agents are uninstalled. */
  readonly nodes: command.remote.Command[] = [];
  readonly nodesReady: command.remote.Command;
  /** Admin kubeconfig pointing at the server's address (secret). */
  readonly kubeconfig: pulumi.Output<string>;
  /** The agents' join token (secret). */
  readonly token: pulumi.Output<string>;
  readonly apiUrl: pulumi.Output<string>;

  constructor(name: string, args: K3sClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:k3s:Cluster", name, {}, opts);
    const { cluster, server } = args;
    const serverSpec = server.host.spec;
    this.apiUrl = pulumi.interpolate`https://${server.address}:${K3S_API_PORT}`;
    const config = pulumi
      .output(server.address)
      .apply((ip) => serverConfig(cluster, serverSpec.name, ip, nodeLabels(serverSpec)));
    this.server = server.host.step(
      "k3s-server",
      pulumi
        .all([config, pulumi.all(server.gates ?? [])])
        .apply(([c, gates]) => serverScript(cluster, c, gates, serverSpec.name)),
      { parent: this, dependsOn: server.dependsOn },
    );
    const credentials = server.host.step("k3s-credentials", credentialsScript(cluster), {
      parent: this,
      dependsOn: [this.server],
      secretOutput: true,
    });
    const creds = pulumi.secret(
      pulumi
        .all([credentials.stdout, this.apiUrl])
        .apply(([out, url]) => parsedBy(credentials, (o) => readCredentials(cluster.name, o, url), out)),
    );
    this.token = pulumi.secret(creds.token);
    this.kubeconfig = pulumi.secret(creds.kubeconfig);

    for (const agent of args.agents) {
      const spec = agent.host.spec;
      const prep: command.remote.Command[] = [];
      if (spec.board === "raspberry-pi") {
        const cgroups = agent.host.step("cgroups", piCgroupScript(), { parent: this });
        // The first step after the Pi's reboot: its dial waits for the Pi to come back.
        prep.push(
          cgroups,
          agent.host.step("memory-cgroup", memoryCgroupScript(spec.name), {
            parent: this,
            dependsOn: [cgroups],
            dialErrorLimit: REBOOT_DIAL_ERROR_LIMIT,
          }),
        );
      } else if (spec.board === "jetson") {
        prep.push(agent.host.step("nvidia-runtime", jetsonRuntimeScript(spec.name), { parent: this }));
      }
      // The Jetson's pods run on the NVIDIA runtime by default, so the vAccel agent needs no runtimeClassName.
      const extra = spec.board === "jetson" ? { "default-runtime": "nvidia" } : {};
      const script = pulumi.all([this.apiUrl, agent.address, this.token]).apply(([url, ip, token]) =>
        agentScript(cluster, agentConfig(url, spec.name, ip, nodeLabels(spec), extra, cluster.dataDir), token, {
          host: spec.name,
          nodeName: spec.name,
          nvidia: spec.board === "jetson",
        }),
      );
      const agentStep = agent.host.step("k3s-agent", pulumi.secret(script), {
        parent: this,
        dependsOn: [...prep, credentials, ...(agent.dependsOn ?? [])],
      });
      this.agents.push(agentStep);
      this.nodes.push(
        server.host.step(`k3s-node-${spec.name}`, nodeScript(cluster, spec.name), {
          parent: this,
          dependsOn: [this.server, agentStep],
        }),
      );
    }
    const nodes = [serverSpec.name, ...args.agents.map((a) => a.host.spec.name)];
    this.nodesReady = server.host.step("k3s-nodes-ready", nodesReadyScript(cluster, nodes), {
      parent: this,
      dependsOn: [this.server, ...this.agents],
    });
    this.registerOutputs({ kubeconfig: this.kubeconfig, apiUrl: this.apiUrl });
  }
}
