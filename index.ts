// The Pulumi program: read the stack's testbed spec, validate it (every error at once, before any host is
// touched), build the testbed, export what an operator needs. See README.md for the settings.
import * as pulumi from "@pulumi/pulumi";
import { formatIssue, loadSpec, readRuntimeConfig } from "./components/spec";
import { Testbed } from "./components/testbed";

export = async () => {
  // A preview may run where the key files are absent: then they are warnings, and `up` needs them.
  const spec = loadSpec(
    readRuntimeConfig((key) => pulumi.runtime.getConfig(key)),
    {
      unreadableFiles: pulumi.runtime.isDryRun() ? "warn" : "error",
    },
  );
  // formatIssue masks secrets: the values here are decrypted.
  for (const w of spec.warnings) void pulumi.log.warn(formatIssue(w));
  const testbed = new Testbed("testbed", { spec });
  return testbed.outputs();
};
