import * as fs from "node:fs";
import * as path from "node:path";
import { isUtf8 } from "node:buffer";
import { isMap, isNode, isScalar, isSeq, parseDocument } from "yaml";
import { SPEC_KEYS } from "./schema";
import { SPEC_SHAPE } from "./load";
import { maskText, showValue } from "./mask";

/** Stands in for a `secure:` (encrypted) value when a stack file is read without the Pulumi CLI. */
export const ENCRYPTED_PLACEHOLDER = "[encrypted]";

/** The config namespace of this project (Pulumi.yaml `name`). */
export const CONFIG_NAMESPACE = "testbed";

/** Path of a stack's settings file: stacks/Pulumi.<stack>.yaml under the project directory. */
export function stackFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, "stacks", `Pulumi.${stack}.yaml`);
}

/**
 * The largest stack file read. A real one is a few kilobytes (the demo stack: about 2 KB); the cap keeps a runaway
 * file from tying up validate, plan and pulumi up, and bounds the work of every check below it.
 */
export const MAX_STACK_FILE_BYTES = 1024 * 1024;

/** A stack file that cannot be read as settings: the message says where and what, and never quotes a value. */
export class StackFileError extends Error {}

/**
 * Reads the `testbed:*` settings of a Pulumi stack file. Encrypted values (`secure: v1:...`) cannot be
 * decrypted without the Pulumi CLI; they are replaced by ENCRYPTED_PLACEHOLDER, which is enough to
 * validate the spec and to plan (neither ever shows a secret's value).
 */
export function readStackConfig(file: string): Record<string, unknown> {
  const size = fs.statSync(file).size;
  if (size > MAX_STACK_FILE_BYTES)
    throw new StackFileError(
      `is ${size} bytes, above the ${MAX_STACK_FILE_BYTES}-byte limit for a stack file; a testbed spec is a few kilobytes`,
    );
  return parseStackText(fs.readFileSync(file));
}

/** Parses a stack file's bytes into its `testbed:*` settings (see readStackConfig). */
export function parseStackText(bytes: Buffer): Record<string, unknown> {
  if (bytes.length > MAX_STACK_FILE_BYTES)
    throw new StackFileError(`is ${bytes.length} bytes, above the ${MAX_STACK_FILE_BYTES}-byte limit for a stack file`);
  const text = bytes.toString("utf8");
  if (!isUtf8(bytes)) {
    const at = text.indexOf("\uFFFD");
    throw new StackFileError(
      `line ${text.slice(0, Math.max(at, 0)).split("\n").length} holds bytes that are not UTF-8; save the file as UTF-8`,
    );
  }
  // The YAML library's own duplicate-key check compares every key with every other (quadratic: 67 s for 100k
  // label keys), so it is off, and duplicates are found below with one set per mapping, which stays linear.
  // prettyErrors is off: its messages quote the offending source line, which may hold a secret; for the same reason
  // a message is cut before the source fragment some of the library's messages end with ("...: <source>").
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  const problem = doc.errors[0];
  if (problem !== undefined) {
    const at = Math.min(problem.pos[0], text.length);
    const line = text.slice(0, at).split("\n").length;
    const column = at - text.lastIndexOf("\n", at - 1);
    throw new StackFileError(
      `is not valid YAML at line ${line}, column ${column}: ${maskText(problem.message.split(/\n|: /)[0].slice(0, 120))}`,
    );
  }
  const duplicate = firstDuplicateKey(doc.contents);
  if (duplicate !== undefined) {
    const line = text.slice(0, duplicate.offset).split("\n").length;
    throw new StackFileError(
      `line ${line}: the key ${showValue(duplicate.key, ["(key)"])} appears twice in one mapping; YAML keeps only one of them, so remove the other`,
    );
  }
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  const kind = (v: unknown) =>
    v === null || v === undefined ? "nothing" : Array.isArray(v) ? "a list" : `a ${typeof v}`;
  if (typeof root !== "object" || root === null || Array.isArray(root))
    throw new StackFileError(`holds ${kind(root)} where a mapping with \`config:\` belongs; ${SPEC_SHAPE}`);
  const config = (root as { config?: unknown }).config;
  if (typeof config !== "object" || config === null || Array.isArray(config))
    throw new StackFileError(`has ${kind(config)} under \`config:\`, where the settings belong; ${SPEC_SHAPE}`);
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const [ns, name] = key.includes(":") ? key.split(":", 2) : [CONFIG_NAMESPACE, key];
    if (ns !== CONFIG_NAMESPACE) continue;
    raw[name] = replaceSecure(value);
  }
  return raw;
}

/** The first key that repeats within one mapping, anywhere in the document, in one pass (a set per mapping). */
function firstDuplicateKey(root: unknown): { key: string; offset: number } | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(key)) return { key, offset: (isNode(pair.key) ? pair.key.range?.[0] : undefined) ?? 0 };
        seen.add(key);
        stack.push(pair.value);
      }
    } else if (isSeq(node)) for (const item of node.items) stack.push(item);
  }
  return undefined;
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
