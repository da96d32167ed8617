import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStackSpec, remoteRunner } from "../../scripts/lib/hosts";
import { type RunError, destroy, up } from "../../scripts/sim/engine";
import { simAvailable, simStackWith } from "./helpers";
import {
  REBOOT_DOWN_S,
  SIM_DIR,
  SIM_STACK,
  loadState,
  overlayFiles,
  rebootsOf,
  simDown,
  simUp,
} from "../../scripts/sim/hosts";

/**
 * Issue 15: where the real tools (k3s's installer and agent, systemd, the Incus VM agent, pulumi-command) behave
 * differently from what the provisioner assumed. Each test runs the real program against doubles that behave as
 * those tools do (scripts/sim/doubles, each citing its source), on one simulated testbed, in order.
 */

/** The edge cluster keeps its data outside k3s' default data dir: its uninstalls must be told where. */
const EDGE_DATA_DIR = "/srv/k3s-edge";
const stack = (change: (c: Record<string, any>) => void = () => undefined) =>
  simStackWith((c) => {
    c["testbed:clusters"].edge.dataDir = EDGE_DATA_DIR;
    change(c);
  });

/** Runs a script as root on a sim host, over a connection of its own (a host may have rebooted since). */
async function onHost(host: string, script: string): Promise<string> {
  const run = await remoteRunner(loadStackSpec({ file: SIM_STACK }), host);
  const r = await run(`set -euo pipefail\n${script}`);
  if (r.code !== 0) throw new Error(`on ${host}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A file the provisioner or k3s wrote on a host, read from the host's overlay. */
const hostFile = (host: string, file: string) => path.join(SIM_DIR, "hosts", host, "upper", file);

/** The edge cluster's server state as the k3s double keeps it: Nodes and node-password secrets. */
const edgeState = () =>
  JSON.parse(fs.readFileSync(hostFile("k3s-cp", `${EDGE_DATA_DIR}/server/db/state.json`), "utf8")) as {
    nodes: Record<string, { labels: string[] }>;
    secrets: Record<string, string>;
  };

const failing = (p: Promise<unknown>) =>
  p.then(
    () => new Error("up succeeded") as RunError,
    (e: RunError) => e,
  );

describe.runIf(simAvailable())("the doubles keep the real tools' contracts (issue 15)", () => {
  let baseline: Record<string, string[]>;
  beforeAll(() => {
    simDown();
    simUp();
    baseline = Object.fromEntries(loadState().hosts.map((h) => [h.name, overlayFiles(h.name)]));
  }, 120_000);
  afterAll(() => simDown(), 120_000);

  it(
    "the Pi reboots for its memory cgroup, and the next step connects only once it is back",
    { timeout: 300_000 },
    async () => {
      const r = await up({ stack: stack() });
      const step = (n: string) => r.steps.find((s) => s.name === n)!;
      expect(step("pi/cgroups").detail).toMatch(/rebooting to enable the memory cgroup$/);
      expect(rebootsOf("pi")).toBe(1);
      // The reboot fired 2 s after the step, and the Pi answered nothing for REBOOT_DOWN_S more: the next step
      // started at once, and its dial waited all that time.
      const after = step("pi/memory-cgroup");
      expect(after.startMs).toBeGreaterThanOrEqual(step("pi/cgroups").endMs);
      expect(after.endMs - step("pi/cgroups").endMs).toBeGreaterThanOrEqual((2 + REBOOT_DOWN_S) * 1000);
      expect(after.detail).toMatch(/^memory cgroup enabled; up \d/);
      expect(step("pi/k3s-agent").startMs).toBeGreaterThanOrEqual(after.endMs);
      // k3s found the Jetson's runtime where it looks, and registered it.
      expect(fs.readFileSync(hostFile("jetson", `${EDGE_DATA_DIR}/agent/etc/containerd/config.toml`), "utf8")).toMatch(
        /runtimes\."nvidia"/,
      );
      expect(step("jetson/k3s-agent").detail).toMatch(/nvidia runtime registered$/);
    },
  );

  it(
    "a changed label is applied: the agent restarts with it (install.sh alone would not)",
    { timeout: 300_000 },
    async () => {
      const labelled = stack((c) => (c["testbed:hosts"].pi.labels["mlsysops.eu/rack"] = "r1"));
      const r = await up({ stack: labelled });
      expect(r.steps.find((s) => s.name === "pi/k3s-agent")).toMatchObject({ op: "update", changed: true });
      expect(edgeState().nodes.pi.labels).toContain("mlsysops.eu/rack=r1");
      await up({ stack: stack() });
      expect(edgeState().nodes.pi.labels).not.toContain("mlsysops.eu/rack=r1");
    },
  );

  it("a DHCP VM keeps its own address once k3s runs in it, though cni0 sorts first", { timeout: 300_000 }, async () => {
    const listed = JSON.parse(await onHost("nuc", "incus list k3s-cp --format json")) as {
      state: { network: Record<string, unknown> };
    }[];
    expect(Object.keys(listed[0].state.network)).toEqual(["cni0", "enp5s0", "flannel.1", "lo"]);
    const dhcp = stack((c) => delete c["testbed:vms"]["k3s-cp"].address);
    const r = await up({ stack: dhcp });
    expect(r.steps.find((s) => s.name === "nuc/vm-k3s-cp")?.op).toBe("update");
    expect((r.outputs.vmAddresses as Record<string, string>)["k3s-cp"]).toBe("198.19.0.21");
  });

  it(
    "a Jetson whose runtime is on PATH but not where k3s looks is refused before k3s starts",
    { timeout: 300_000 },
    async () => {
      await onHost("jetson", "mv /usr/bin/nvidia-container-runtime /usr/local/bin/nvidia-container-runtime");
      try {
        const ran: string[] = [];
        const error = await failing(up({ stack: stack(), rerun: true, onStep: (e, n) => e === "end" && ran.push(n) }));
        expect(error.message).toMatch(
          /^step jetson\/nvidia-runtime on host jetson failed \(exit 1\): .*host jetson: k3s registers the nvidia runtime only when nvidia-container-runtime is in \/usr\/local\/nvidia\/toolkit or \/usr\/bin, and it is in neither \(there is one at \/usr\/local\/bin\/nvidia-container-runtime, where k3s does not look\)/s,
        );
        expect(ran).not.toContain("jetson/k3s-agent");
      } finally {
        await onHost("jetson", "mv /usr/local/bin/nvidia-container-runtime /usr/bin/nvidia-container-runtime");
      }
    },
  );

  it(
    "a Jetson whose k3s started before its runtime existed is restarted, and judged by the new k3s, not the old",
    { timeout: 300_000 },
    async () => {
      const toml = hostFile("jetson", `${EDGE_DATA_DIR}/agent/etc/containerd/config.toml`);
      // k3s looks for the runtime at start only: this one started without it, and its Node stays Ready.
      await onHost(
        "jetson",
        `mv /usr/bin/nvidia-container-runtime /root/nvidia-container-runtime
systemctl restart k3s-agent
mv /root/nvidia-container-runtime /usr/bin/nvidia-container-runtime`,
      );
      // Its config names nvidia only as the default runtime (the agent's step once took that for the runtime).
      expect(fs.readFileSync(toml, "utf8")).toMatch(/default_runtime_name = "nvidia"/);
      expect(fs.readFileSync(toml, "utf8")).not.toMatch(/runtimes\."nvidia"/);
      // The step restarts it. Until systemd's restart job has ended, the Node's Ready condition and containerd's
      // config are still the old k3s's (the CI failure of 2026-11-26 read that config): the step waits for the job.
      const r = await up({ stack: stack(), rerun: true });
      expect(r.steps.find((s) => s.name === "jetson/k3s-agent")).toMatchObject({ changed: true });
      expect(r.steps.find((s) => s.name === "jetson/k3s-agent")?.detail).toMatch(/nvidia runtime registered$/);
      expect(fs.readFileSync(toml, "utf8")).toMatch(/runtimes\."nvidia"/);
    },
  );

  it(
    "a credentials step that fails says why, and its error (all of its output, as pulumi-command's) holds no secret",
    { timeout: 300_000 },
    async () => {
      const token = fs.readFileSync(hostFile("k3s-cp", `${EDGE_DATA_DIR}/server/node-token`), "utf8").trim();
      await onHost("k3s-cp", "sed -i 's#https://127.0.0.1:6443#https://198.19.0.21:6443#' /etc/rancher/k3s/k3s.yaml");
      try {
        const error = await failing(up({ stack: stack(), rerun: true }));
        expect(error.message).toMatch(
          /^step k3s-cp\/k3s-credentials on host k3s-cp failed \(exit 1\): .*does not point at https:\/\/127\.0\.0\.1:6443/s,
        );
        expect(error.message).not.toContain(token);
        expect(error.message).not.toContain(token.split("::server:")[1]);
      } finally {
        // k3s writes its kubeconfig again when it starts.
        await onHost("k3s-cp", "systemctl restart k3s");
      }
    },
  );

  it(
    "an agent the server refuses fails its step in bounded time, naming the host and the agent's journal",
    { timeout: 420_000 },
    async () => {
      // The server's token changes under it (it keeps the one it read at start), and the Pi joins afresh.
      const tokenFile = `${EDGE_DATA_DIR}/server/node-token`;
      await onHost("k3s-cp", `sed -i 's/::server:.*$/::server:0123456789abcdef0123456789abcdef/' ${tokenFile}`);
      await onHost("pi", `K3S_DATA_DIR=${EDGE_DATA_DIR} /usr/local/bin/k3s-agent-uninstall.sh >/dev/null 2>&1`);
      try {
        const t0 = Date.now();
        const error = await failing(up({ stack: stack(), rerun: true, timeoutMs: 300_000 }));
        expect(error.message).not.toMatch(/timed out/);
        expect(error.message).toMatch(
          /^step (pi|jetson)\/k3s-agent on host \1 failed \(exit 1\): .*host \1: the k3s agent \1 of cluster edge was refused; the last lines of its journal:\n.*401 Unauthorized/s,
        );
        // Refused: no need to wait out the whole bound.
        expect(Date.now() - t0).toBeLessThan(240_000);
      } finally {
        // The server reads the changed token when it restarts: the agents' (new) one is right again.
        await onHost("k3s-cp", "systemctl restart k3s");
      }
      // The Pi's agent, still retrying, is let in now; the run completes.
      await up({ stack: stack() });
      expect(Object.keys(edgeState().nodes)).toEqual(expect.arrayContaining(["pi", "jetson"]));
    },
  );

  it(
    "an agent removed from the cluster leaves no Node nor node-password behind, so a re-imaged board rejoins",
    { timeout: 420_000 },
    async () => {
      expect(edgeState().secrets).toHaveProperty(["pi.node-password.k3s"]);
      const withoutPi = stack((c) => {
        c["testbed:clusters"].edge.agents = ["jetson"];
      });
      const r = await up({ stack: withoutPi });
      const deleted = r.steps.filter((s) => s.op === "delete").map((s) => s.name);
      expect(deleted).toEqual(expect.arrayContaining(["k3s-cp/k3s-node-pi", "pi/k3s-agent"]));
      // The server forgot the Pi before the Pi was uninstalled.
      const end = (n: string) => r.steps.find((s) => s.name === n && s.op === "delete")!.endMs;
      const start = (n: string) => r.steps.find((s) => s.name === n && s.op === "delete")!.startMs;
      expect(start("pi/k3s-agent")).toBeGreaterThanOrEqual(end("k3s-cp/k3s-node-pi"));
      expect(Object.keys(edgeState().nodes)).not.toContain("pi");
      expect(Object.keys(edgeState().secrets)).not.toContain("pi.node-password.k3s");
      // Re-imaged: a new node password (k3s makes one at the first join).
      await onHost("pi", "rm -f /etc/rancher/node/password");
      const back = await up({ stack: stack(), timeoutMs: 300_000 });
      expect(back.steps.find((s) => s.name === "pi/k3s-agent")).toMatchObject({ op: "create", changed: true });
      expect(Object.keys(edgeState().nodes)).toContain("pi");
    },
  );

  it("destroy uninstalls k3s from a custom data dir too, and leaves no file behind", { timeout: 300_000 }, async () => {
    for (const agent of ["pi", "jetson"])
      expect(overlayFiles(agent).some((f) => f.startsWith(`${EDGE_DATA_DIR}/agent/`))).toBe(true);
    await destroy();
    for (const h of loadState().hosts)
      expect([h.name, overlayFiles(h.name).filter((f) => !baseline[h.name].includes(f))]).toEqual([h.name, []]);
  });
});
