import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };
import { CONFIG_NAMESPACE, ENCRYPTED_PLACEHOLDER } from "../../components/spec";

/**
 * Runs the real Pulumi program (index.ts) offline under Pulumi's mock runtime and records every resource it
 * registers, with its parent, its dependencies (explicit `dependsOn` and those implied by inputs) and which
 * inputs are secret. `testbed plan` prints this record; the simulated testbed's engine supplies `newResource`
 * to execute each step for real. The mock runtime is process-global: one run per process.
 */

/** The marker Pulumi's RPC layer wraps secret values in (sdk/nodejs/runtime/rpc.ts). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** What a secret value is shown as anywhere in recorded inputs. */
export const SECRET_MASK = "[secret]";

export interface RecordedResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  /** URNs this resource waits for: dependsOn and every resource whose outputs flow into its inputs. */
  dependsOn: string[];
  /** Inputs with every secret value replaced by SECRET_MASK. */
  inputs: Record<string, unknown>;
  /**
   * Names of top-level inputs that are, or contain, a secret; also when the value is unknown (a preview), which
   * Pulumi's serializer sends without its secret flag (sdk/nodejs/runtime/rpc.ts, serializeProperty: `if (!isKnown)
   * return unknownValue` comes before the secret check), as for an agent's stdin, which carries the join token.
   */
  secretInputs: string[];
}

export interface NewResourceRequest extends RecordedResource {
  /** Inputs with secrets unwrapped: only for an engine that executes the resource; never print them. */
  rawInputs: Record<string, unknown>;
  /** The provider reference (`<provider URN>::<provider id>`) when the resource names one. */
  provider?: string;
  /** Set for a read (`Resource.get(name, id)`): the id of the existing resource to read. */
  id?: string;
  /** Every resource registered so far, as recorded (URNs filled in as registrations complete). */
  registered(): RecordedResource[];
}

export interface ProgramRunOptions {
  stack: string;
  /** Raw values of the `testbed:*` settings (as readStackConfig or Pulumi's config returns them). */
  config: Record<string, unknown>;
  /** Directory holding index.ts; relative paths in the spec are resolved against it. Defaults to the repo root. */
  projectDir?: string;
  /**
   * true (plan): like `pulumi preview`, resource outputs are unknown unless the mock returns them.
   * false (engine): outputs are whatever newResource returns.
   */
  preview: boolean;
  /** Returns the resource's id and output state. Defaults to echoing the inputs back. */
  newResource?: (req: NewResourceRequest) => Promise<{ id?: string; state: Record<string, unknown> }>;
}

export interface ProgramRunResult {
  resources: RecordedResource[];
  /** Stack outputs, with every secret one replaced by SECRET_MASK (as `pulumi stack output` shows them). */
  outputs: Record<string, unknown>;
  /**
   * The same outputs with the secrets in clear (as `pulumi stack output --show-secrets` gives them): for the sim's
   * saved outputs file only (0600), never to be printed.
   */
  outputsWithSecrets: Record<string, unknown>;
}

export function isSecretValue(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Returns [masked, unwrapped, containsSecret]. */
function splitSecrets(v: unknown): [unknown, unknown, boolean] {
  if (isSecretValue(v)) {
    const [, raw] = splitSecrets(v.value);
    return [SECRET_MASK, raw, true];
  }
  if (Array.isArray(v)) {
    const parts = v.map(splitSecrets);
    return [parts.map((p) => p[0]), parts.map((p) => p[1]), parts.some((p) => p[2])];
  }
  if (typeof v === "object" && v !== null) {
    const masked: Record<string, unknown> = {};
    const raw: Record<string, unknown> = {};
    let secret = false;
    for (const [k, x] of Object.entries(v)) {
      const [m, r, s] = splitSecrets(x);
      masked[k] = m;
      raw[k] = r;
      secret ||= s;
    }
    return [masked, raw, secret];
  }
  return [v, v, false];
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(cb: (deps: { getUrnsList(): string[] }) => void): void };
}

/** True when the value is or holds a secret Output, known or not (an unknown one still says whether it is secret). */
async function holdsSecret(v: unknown, depth = 0): Promise<boolean> {
  if (depth > 32) return false;
  if (pulumi.Output.isInstance(v)) {
    if (await pulumi.isSecret(v)) return true;
    const known = await (v as unknown as { isKnown: Promise<boolean> }).isKnown;
    return known && holdsSecret(await (v as unknown as { promise(): Promise<unknown> }).promise(), depth + 1);
  }
  if (v instanceof Promise) return holdsSecret(await v, depth + 1);
  if (Array.isArray(v)) return (await Promise.all(v.map((x) => holdsSecret(x, depth + 1)))).some(Boolean);
  if (typeof v === "object" && v !== null && !pulumi.Resource.isInstance(v))
    return (await Promise.all(Object.values(v).map((x) => holdsSecret(x, depth + 1)))).some(Boolean);
  return false;
}

export async function runProgram(opts: ProgramRunOptions): Promise<ProgramRunResult> {
  const projectDir = opts.projectDir ?? path.resolve(__dirname, "../..");
  const resources: RecordedResource[] = [];
  const pending = new Map<string, RecordedResource>();
  // A failing newResource surfaces as an unhandled rejection inside Pulumi's runtime: catch the first one, let the
  // steps already running finish (nothing is left half-applied by us), then fail the run with it.
  let inFlight = 0;
  let firstError: unknown;
  let settle: (() => void) | undefined;
  const drained = () => new Promise<void>((resolve) => (inFlight === 0 ? resolve() : (settle = resolve)));
  const onRejection = (err: unknown) => {
    firstError ??= err;
    failRun?.(err);
  };
  let failRun: ((err: unknown) => void) | undefined;
  const failed = new Promise<never>((_, reject) => (failRun = reject));
  failed.catch(() => undefined);
  process.on("unhandledRejection", onRejection);
  const keyOf = (type: string, name: string) => `${type}::${name}`;

  // Which inputs hold a secret, read from the Outputs before serializing drops the flag of unknown ones. The SDK
  // calls this through the module's exports (runtime/resource.ts, prepareResource), so wrapping it here sees every
  // registration; the label is `resource:<name>[<type>]` (same function).
  const secretBeforeSerializing = new Map<string, string[]>();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rpc = require("@pulumi/pulumi/runtime/rpc") as {
    serializeResourceProperties: (label: string, props: Record<string, unknown>, ...rest: unknown[]) => unknown;
  };
  const serialize = rpc.serializeResourceProperties;
  rpc.serializeResourceProperties = async (label, props, ...rest) => {
    const m = /^resource:(.*)\[(.*)\]$/.exec(label);
    if (m) {
      const secret = await Promise.all(Object.entries(props).map(async ([k, v]) => ((await holdsSecret(v)) ? k : "")));
      secretBeforeSerializing.set(keyOf(m[2], m[1]), secret.filter(Boolean));
    }
    return serialize(label, props, ...rest);
  };

  await pulumi.runtime.setMocks(
    {
      newResource: async (args) => {
        const rec = pending.get(keyOf(args.type, args.name));
        const [masked, raw] = splitSecrets(args.inputs);
        const record: RecordedResource = rec ?? {
          urn: "",
          type: args.type,
          name: args.name,
          custom: args.custom ?? true,
          dependsOn: [],
          inputs: {},
          secretInputs: [],
        };
        record.inputs = masked as Record<string, unknown>;
        record.secretInputs = [
          ...new Set([
            ...Object.entries(args.inputs)
              .filter(([, v]) => splitSecrets(v)[2])
              .map(([k]) => k),
            ...(secretBeforeSerializing.get(keyOf(args.type, args.name)) ?? []),
          ]),
        ].sort();
        if (opts.newResource) {
          inFlight++;
          try {
            const result = await opts.newResource({
              ...record,
              rawInputs: raw as Record<string, unknown>,
              provider: args.provider || undefined,
              id: args.id || undefined,
              registered: () => resources,
            });
            return { id: result.id ?? `${args.name}-id`, state: result.state };
          } catch (err) {
            firstError ??= err;
            throw err;
          } finally {
            if (--inFlight === 0) settle?.();
          }
        }
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: async (args) => args.inputs,
    },
    "testbed",
    opts.stack,
    opts.preview,
  );

  // Record the graph as the program registers it: the mock API hides dependencies from newResource.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: (err: unknown, res?: { getUrn(): string }) => void): unknown;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const deps = new Set(req.getDependenciesList());
    req.getPropertydependenciesMap().forEach((d) => d.getUrnsList().forEach((u) => deps.add(u)));
    const record: RecordedResource = {
      urn: "",
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      parent: req.getParent() || undefined,
      dependsOn: [...deps],
      inputs: {},
      secretInputs: [],
    };
    pending.set(keyOf(record.type, record.name), record);
    resources.push(record);
    return register(req, (err, res) => {
      if (res) record.urn = res.getUrn();
      cb(err, res);
    });
  };

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(opts.config)) {
    const full = `${CONFIG_NAMESPACE}:${key}`;
    config[full] = typeof value === "string" ? value : JSON.stringify(value);
    if (JSON.stringify(value).includes(ENCRYPTED_PLACEHOLDER)) secretKeys.push(full);
  }
  pulumi.runtime.setAllConfig(config, secretKeys);

  const previousCwd = process.cwd();
  process.chdir(projectDir);
  try {
    // index.ts is loaded by Node's require, as Pulumi's runtime does; tsx teaches it TypeScript (also under vitest,
    // whose own transform does not cover a plain require).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require("tsx/cjs/api") as { register(): unknown }).register();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(projectDir, "index.ts")) as () => Promise<Record<string, unknown>>;
    try {
      const returned = (await program()) ?? {};
      // Output.promise(true) resolves even when a value is unknown (a preview); apply() would never call back.
      const resolve = (o: unknown) =>
        (pulumi.output(o) as unknown as { promise(withUnknowns: boolean): Promise<unknown> }).promise(true);
      const entries = await Promise.race([
        Promise.all(
          Object.entries(returned).map(async ([k, v]) => {
            const secret = await pulumi.isSecret(pulumi.output(v));
            const value = await resolve(v);
            return [k, secret ? SECRET_MASK : value, value] as const;
          }),
        ),
        failed,
      ]);
      const outputs = Object.fromEntries((entries ?? []).map(([k, shown]) => [k, shown]));
      const outputsWithSecrets = Object.fromEntries((entries ?? []).map(([k, , value]) => [k, value]));
      await Promise.race([waitForRPCs(), failed]);
      if (firstError !== undefined) throw firstError;
      process.off("unhandledRejection", onRejection);
      return { resources, outputs, outputsWithSecrets };
    } catch (err) {
      await drained();
      throw firstError ?? err;
    }
  } finally {
    // After a failure the handler stays: a step still failing later must not crash the process (one run a process).
    process.chdir(previousCwd);
  }
}
