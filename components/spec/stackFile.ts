import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { SPEC_KEYS } from "./schema";

/** Stands in for a `secure:` (encrypted) value when a stack file is read without the Pulumi CLI. */
export const ENCRYPTED_PLACEHOLDER = "[encrypted]";

/** The config namespace of this project (Pulumi.yaml `name`). */
export const CONFIG_NAMESPACE = "testbed";

/** Path of a stack's settings file: stacks/Pulumi.<stack>.yaml under the project directory. */
export function stackFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, "stacks", `Pulumi.${stack}.yaml`);
}

/**
 * Reads the `testbed:*` settings of a Pulumi stack file. Encrypted values (`secure: v1:...`) cannot be
 * decrypted without the Pulumi CLI; they are replaced by ENCRYPTED_PLACEHOLDER, which is enough to
 * validate the spec and to plan (neither ever shows a secret's value).
 */
export function readStackConfig(file: string): Record<string, unknown> {
  const doc = parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  const config = doc?.config ?? {};
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const [ns, name] = key.includes(":") ? key.split(":", 2) : [CONFIG_NAMESPACE, key];
    if (ns !== CONFIG_NAMESPACE) continue;
    raw[name] = replaceSecure(value);
  }
  return raw;
}

function replaceSecure(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(replaceSecure);
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0][0] === "secure" && typeof entries[0][1] === "string")
      return ENCRYPTED_PLACEHOLDER;
    return Object.fromEntries(entries.map(([k, v]) => [k, replaceSecure(v)]));
  }
  return value;
}

/**
 * The spec's raw settings inside a Pulumi program. Reads the structured values straight from the runtime
 * (already decrypted), which avoids Config.getObject's warning for objects that contain secrets: the
 * components wrap every secret field in pulumi.secret themselves.
 */
export function readRuntimeConfig(getConfig: (key: string) => string | undefined): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const key of SPEC_KEYS) {
    const text = getConfig(`${CONFIG_NAMESPACE}:${key}`);
    if (text === undefined) continue;
    try {
      raw[key] = JSON.parse(text);
    } catch {
      raw[key] = text;
    }
  }
  return raw;
}
