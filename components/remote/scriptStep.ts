import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { RemoteHost, StepOptions } from "./host";
import type { StepScript } from "./script";

/** A step on a host, and what its stdout says, parsed. */
export interface ScriptStep<T> {
  step: command.remote.Command;
  /**
   * The step's stdout through the component's parser. A parse error is a `pulumi.ResourceError` tied to the step
   * (CONTRIBUTING.md, "Errors"), so Pulumi shows it under the step, without a stack trace.
   */
  parsed: pulumi.Output<T>;
}

/**
 * The shape of a component that runs one script on a host and reads its result (the disk measurement, the ZFS
 * tuning): the step, as `${host}/${name}`, and its stdout parsed. `opts.parent` is the component.
 */
export function scriptStep<T>(
  host: RemoteHost,
  name: string,
  script: StepScript,
  parse: (stdout: string) => T,
  opts: StepOptions = {},
): ScriptStep<T> {
  const step = host.step(name, script, opts);
  return { step, parsed: step.stdout.apply((stdout) => parsedBy(step, parse, stdout)) };
}

/**
 * `read(input)`: what a step printed (or measured) read inside `apply`, its failure a ResourceError tied to the step
 * (a ResourceError already is one: kept as it is).
 */
export function parsedBy<I, T>(step: pulumi.Resource, read: (input: I) => T, input: I): T {
  try {
    return read(input);
  } catch (err) {
    if (err instanceof pulumi.ResourceError) throw err;
    throw new pulumi.ResourceError((err as Error).message, step, true);
  }
}
