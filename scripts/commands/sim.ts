import * as fs from "node:fs";
import type { Command } from "commander";
import { CliError, EXIT, finish } from "../cli";
import { readStackConfig } from "../../components/spec/stackFile";

export interface EngineChoice {
  asked: "auto" | "mock" | "pulumi";
  /** The mock-runtime engine's state exists (it provisioned the sim hosts). */
  mockState: boolean;
  /** The real engine's stack has resources (it provisioned the sim hosts). */
  realState: boolean;
  /** Whether the real engine is available, and if not why (findPulumi). */
  real: () => { cli: unknown } | { missing: string };
  /** --serial or --rerun: options only the mock-runtime engine has. */
  mockOnly: boolean;
  /**
   * The stack's settings the real engine cannot provision here (KUBERNETES_SETTINGS: no pulumi-resource-kubernetes),
   * present in the stack; the mock-runtime engine provisions them.
   */
  kubernetes?: string[];
}

/**
 * Which engine `sim up` runs (README.md, "The real Pulumi engine"). auto: the one whose state the sim hosts carry
 * (the other cannot take them over); else the real engine where it is available (it is what users run; the bench
 * has it at 1.5x the mock engine's wall time, seconds on this stack), unless an option only the mock engine has is
 * asked for, or the stack has Karmada or vAccel, which only the mock engine provisions here; else the mock engine,
 * saying why.
 */
export function chooseEngine(c: EngineChoice): { engine: "mock" | "pulumi"; why: string } | { error: string } {
  const owner = c.mockState ? "mock" : c.realState ? "pulumi" : undefined;
  const name = { mock: "the mock-runtime engine", pulumi: "the real Pulumi engine" };
  if (c.asked !== "auto") {
    if (owner !== undefined && owner !== c.asked)
      return { error: `the sim hosts were provisioned by ${name[owner]}: sim down first` };
    if (c.asked === "pulumi" && c.mockOnly) return { error: "--serial and --rerun are options of the mock engine" };
    return { engine: c.asked, why: `${name[c.asked]} (--engine ${c.asked})` };
  }
  if (owner === "pulumi" && c.mockOnly)
    return { error: "--serial and --rerun are options of the mock engine, and the real one provisioned these hosts" };
  if (owner !== undefined) return { engine: owner, why: `${name[owner]}, which provisioned these sim hosts` };
  if (c.mockOnly) return { engine: "mock", why: `${name.mock} (--serial and --rerun are its options)` };
  if ((c.kubernetes ?? []).length > 0)
    return {
      engine: "mock",
      why:
        `${name.mock}: the stack has ${c.kubernetes!.join(" and ")}, which the real one cannot provision here ` +
        "(no pulumi-resource-kubernetes); --engine pulumi runs the stack without them",
    };
  const found = c.real();
  if ("cli" in found) return { engine: "pulumi", why: `${name.pulumi} (--engine mock for the other)` };
  return { engine: "mock", why: `${name.mock}: the real one is not available here: ${found.missing}` };
}

/**
 * `testbed sim ...`: the simulated testbed (scripts/sim). It is a development tool: it needs root, iproute2,
 * openssh-server, zfs-fuse (scripts/setup-sim-host.sh installs them), and it is not shipped to real hosts.
 */
export function register(program: Command): void {
  const sim = program
    .command("sim")
    .description("the simulated testbed: hosts in network namespaces, provisioned by the real program");
  const requireRoot = () => {
    if (process.getuid?.() !== 0) throw new CliError("the simulated testbed needs root (network namespaces, mounts)");
  };
  // Loaded lazily: the test/ tree is a development dependency of this command only.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hosts = () => require("../sim/hosts") as typeof import("../sim/hosts");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engine = () => require("../sim/engine") as typeof import("../sim/engine");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pulumiEngine = () => require("../sim/pulumiEngine") as typeof import("../sim/pulumiEngine");
  const pulumiCli = () => {
    const found = pulumiEngine().findPulumi();
    if ("missing" in found) throw new CliError(found.missing);
    return found.cli;
  };

  sim
    .command("up")
    .description("create the sim hosts and provision the sim stack with the test engine")
    .option("--hosts-only", "create the hosts but do not provision")
    .option("--serial", "run one step at a time")
    .option("--rerun", "run every step again, even those whose inputs are unchanged (each must report unchanged)")
    .option(
      "--engine <engine>",
      "auto: the engine that made the sim hosts' state, else the real one where scripts/setup-pulumi.sh made it available, else mock; " +
        "mock: this project's engine under Pulumi's mock runtime; pulumi: the real `pulumi up`",
      "auto",
    )
    .action(async (opts: { hostsOnly?: boolean; serial?: boolean; rerun?: boolean; engine: string }) => {
      requireRoot();
      if (!["auto", "mock", "pulumi"].includes(opts.engine))
        throw new CliError(`--engine ${opts.engine}: must be auto, mock or pulumi`);
      const choice = chooseEngine({
        asked: opts.engine as EngineChoice["asked"],
        mockState: fs.existsSync(engine().STATE_FILE),
        realState: pulumiEngine().simStackHasResources(),
        real: () => pulumiEngine().findPulumi(),
        mockOnly: Boolean(opts.serial || opts.rerun),
        kubernetes: pulumiEngine().KUBERNETES_SETTINGS.filter(
          (key) => readStackConfig(hosts().SIM_STACK)[key.replace(/^testbed:/, "")] !== undefined,
        ),
      });
      if ("error" in choice) throw new CliError(choice.error);
      process.stderr.write(`sim: ${choice.why}\n`);
      const real = choice.engine === "pulumi" ? pulumiCli() : undefined;
      const h = hosts();
      const running = (await h.simStatus()).filter((x) => x.kind === "machine");
      if (running.length === 0 || running.some((x) => !x.answersSsh)) {
        const r = h.simUp();
        process.stderr.write(`sim: ${r.hosts.length} hosts up in ${r.seconds.toFixed(1)} s\n`);
      }
      if (opts.hostsOnly) return finish(EXIT.ok);
      if (real) {
        const p = pulumiEngine();
        const r = await p.up(real, (line) => process.stderr.write(`  ${line}\n`));
        const outputs = await p.stackOutputs(real);
        process.stdout.write(
          `sim up (pulumi ${real.version}): done in ${(r.wallMs / 1000).toFixed(1)} s\n${JSON.stringify(outputs, null, 2)}\n`,
        );
        return finish(EXIT.ok);
      }
      const result = await engine().upInProcess({
        serial: opts.serial,
        rerun: opts.rerun,
        onStep: (event, name, line) => {
          if (event === "end") process.stderr.write(`  ${name}: ${line?.replace(/^TESTBED /, "")}\n`);
          if (event === "progress") process.stderr.write(`  ${name}: ${line}\n`);
        },
      });
      const changed = result.steps.filter((s) => s.changed).length;
      const ops = ["create", "update", "replace", "delete", "same"]
        .map((op) => [op, result.steps.filter((s) => s.op === op).length] as const)
        .filter(([, n]) => n > 0)
        .map(([op, n]) => `${n} ${op === "same" ? "unchanged (not run)" : op}`);
      process.stdout.write(
        `sim up: ${result.steps.length} steps (${ops.join(", ")}; ${changed} changed something on a host) in ${(result.wallMs / 1000).toFixed(1)} s\n` +
          `${JSON.stringify(result.outputs, null, 2)}\n`,
      );
      finish(EXIT.ok);
    });

  sim
    .command("down")
    .description("run every step's delete in reverse order, then remove every namespace, mount and process")
    .action(async () => {
      requireRoot();
      try {
        // A stack made by `sim up --engine pulumi`: the real `pulumi destroy` runs every delete.
        if (pulumiEngine().simStackHasResources()) {
          const r = await pulumiEngine().destroy(pulumiCli(), (line) => process.stderr.write(`  ${line}\n`));
          process.stderr.write(`sim: pulumi destroy done in ${(r.wallMs / 1000).toFixed(1)} s\n`);
        }
        const runs = await engine().destroy((event, name, line) => {
          if (event === "end") process.stderr.write(`  delete ${name}: ${line?.replace(/^TESTBED /, "")}\n`);
        });
        process.stderr.write(`sim: ${runs.length} deletes run\n`);
      } finally {
        hosts().simDown();
        // The real engine's state, like the mock engine's, belongs to the hosts just removed (their host keys too).
        pulumiEngine().forgetSimStack();
      }
      process.stdout.write("sim down: no sim host, namespace or process left\n");
      finish(EXIT.ok);
    });

  sim
    .command("status")
    .description("list the sim hosts, their addresses and whether each answers SSH")
    .option("--json", "one JSON array")
    .action(async (opts: { json?: boolean }) => {
      const status = await hosts().simStatus();
      if (opts.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      else if (status.length === 0) process.stdout.write("no sim hosts (npx testbed sim up)\n");
      else
        for (const s of status)
          process.stdout.write(
            `${s.name.padEnd(14)} ${s.kind.padEnd(8)} ${s.address.padEnd(14)} ${s.answersSsh ? "answers SSH" : "DOWN"}\n`,
          );
      finish(status.every((s) => s.answersSsh) ? EXIT.ok : EXIT.verdict);
    });

  // One engine run in its own process (scripts/sim/engine.ts up()); progress as STEP lines on stderr.
  sim
    .command("engine-run", { hidden: true })
    .requiredOption("--result <file>")
    .option("--serial")
    .option("--stack-file <file>")
    .option("--cut-at <step>")
    .option("--rerun")
    .action(async (o: { result: string; serial?: boolean; stackFile?: string; cutAt?: string; rerun?: boolean }) => {
      const e = engine();
      const write = (x: unknown) => fs.writeFileSync(o.result, JSON.stringify(x));
      try {
        const result = await e.upInProcess({
          serial: o.serial,
          stack: o.stackFile,
          cutAt: o.cutAt,
          rerun: o.rerun,
          onStep: (event, name, line) => process.stderr.write(`STEP ${event} ${name} ${line ?? ""}\n`),
        });
        write({ result });
        finish(EXIT.ok);
      } catch (err) {
        write({ error: (err as Error).message });
        finish(EXIT.verdict);
      }
      // Pulumi's runtime may hold the event loop after a failed run: this process exists for one run only.
      setTimeout(() => process.exit(), 100).unref();
    });

  // Spawned by the k3s server double beside its kube-apiserver, killed with it (scripts/sim/controllers/run.ts).
  sim
    .command("cluster-controllers", { hidden: true })
    .requiredOption("--kubeconfig <file>")
    .requiredOption("--supervisor <url>")
    .action(async (o: { kubeconfig: string; supervisor: string }) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const c = require("../sim/controllers/run") as typeof import("../sim/controllers/run");
      await c.runControllers({ kubeconfig: fs.readFileSync(o.kubeconfig, "utf8"), supervisor: o.supervisor });
    });

  // The Karmada controllers double next to the sim's karmada-apiserver (scripts/sim/karmada/controllers.ts); the
  // duration options are karmada-controller-manager's, with its defaults.
  sim
    .command("karmada-controllers", { hidden: true })
    .requiredOption("--kubeconfig <file>", "the Karmada API's admin kubeconfig")
    .option("--cluster-status-update-frequency <duration>", "e.g. 10s", "10s")
    .option("--cluster-success-threshold <duration>", "e.g. 30s", "30s")
    .option("--cluster-failure-threshold <duration>", "e.g. 30s", "30s")
    .option("--poll-interval <duration>", "between rounds over the Karmada API", "1s")
    .action((o: Record<string, string>) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const k = require("../sim/karmada/controllers") as typeof import("../sim/karmada/controllers");
      const ms = (flag: string, v: string) => {
        const d = k.parseDuration(v);
        if (d === undefined) throw new CliError(`--${flag} ${v}: not a duration (like 10s or 500ms)`);
        return d;
      };
      // Killed, it stops at once: its state is in the APIs.
      process.on("SIGTERM", () => process.exit(0));
      k.startKarmadaControllers({
        kubeconfig: fs.readFileSync(o.kubeconfig, "utf8"),
        statusUpdateFrequencyMs: ms("cluster-status-update-frequency", o.clusterStatusUpdateFrequency),
        successThresholdMs: ms("cluster-success-threshold", o.clusterSuccessThreshold),
        failureThresholdMs: ms("cluster-failure-threshold", o.clusterFailureThreshold),
        pollMs: ms("poll-interval", o.pollInterval),
      });
    });

  // Called by the Incus double on the sim nuc (through nsenter into the root namespaces).
  sim
    .command("vm-start", { hidden: true })
    .requiredOption("--name <name>")
    .requiredOption("--user <user>")
    .requiredOption("--key <authorizedKey>")
    .option("--address <ip>")
    .action((o: { name: string; user: string; key: string; address?: string }) => {
      requireRoot();
      const vm = hosts().startVm({ name: o.name, user: o.user, authorizedKey: o.key, address: o.address });
      process.stdout.write(`${vm.address}\n`);
      finish(EXIT.ok);
    });
  // Called by the reboot double on a sim host (through nsenter into the root namespaces).
  sim
    .command("reboot-host", { hidden: true })
    .requiredOption("--name <name>")
    .action((o: { name: string }) => {
      requireRoot();
      hosts().rebootHost(o.name);
      finish(EXIT.ok);
    });
  sim
    .command("vm-stop", { hidden: true })
    .requiredOption("--name <name>")
    .action((o: { name: string }) => {
      requireRoot();
      hosts().stopVm(o.name);
      finish(EXIT.ok);
    });
}
