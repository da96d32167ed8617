// The Pulumi program: read the stack's testbed spec, validate it (every error at once, before any host is
// touched), build the testbed, export what an operator needs. See README.md for the settings.
import * as pulumi from "@pulumi/pulumi";
import { SpecError, formatIssue, loadSpec, readRuntimeConfig } from "./components/spec";
import { Testbed } from "./components/testbed";

export = async () => {
  // A preview may run where the key files are absent: then they are warnings, and `up` needs them.
  const spec = specOrRunError(() =>
    loadSpec(
      readRuntimeConfig((key) => pulumi.runtime.getConfig(key)),
      {
        unreadableFiles: pulumi.runtime.isDryRun() ? "warn" : "error",
      },
    ),
  );
  // formatIssue masks secrets: the values here are decrypted.
  for (const w of spec.warnings) void pulumi.log.warn(formatIssue(w));
  const testbed = new Testbed("testbed", { spec });
  return testbed.outputs();
};

/**
 * A bad spec is the user's to fix, not a crash: as a pulumi.RunError, Pulumi prints every issue without a stack
 * trace (CONTRIBUTING.md, "Errors").
 */
function specOrRunError<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof SpecError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
