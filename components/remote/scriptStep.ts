import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { RemoteHost, StepOptions } from "./host";
import type { StepScript } from "./script";

/** A step on a host, and what its stdout says, parsed. */
export interface ScriptStep<T> {
  step: command.remote.Command;
  /** The step's stdout through the component's parser (a parse error fails the step's consumers, naming it). */
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
  return { step, parsed: step.stdout.apply(parse) };
}
