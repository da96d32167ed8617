/**
 * What a message may show of a value from the spec. Every message that quotes a value goes through `showValue`,
 * and every finished message through `maskText`, so a secret is hidden by what it is, wherever it sits: pasted into
 * the wrong field, into a list, under a label, or decrypted by `pulumi up`.
 */

/** Field names whose values are secrets, at any depth of the path (privateKey, sudoPassword, a label named token...). */
const SECRET_FIELD = /(password|passwd|passphrase|secret|token|privatekey|credential|kubeconfig|apikey|cert|^key$)/i;

/**
 * `*File` fields of a secret name a file: their value is shown only when it looks like a path, since a secret pasted
 * into one (a password in sudoPasswordFile) cannot be told apart from a file name by its content.
 */
const SECRET_FILE_FIELD = /File$/;
const LOOKS_LIKE_PATH = /^(\/|~\/|\.{1,2}\/)[^\s]{0,255}$/;

/** A PEM block or its header: keys, certificates. Never show any part of one. */
const PEM = /-----BEGIN [A-Z0-9 ]*-----/;
const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]*-----[\s\S]*?(-----END [A-Z0-9 ]*-----|$)/g;

/** Longest string shown in a message; longer ones are cut with their length noted. */
const MAX_SHOWN = 80;

/** Bits per character, over the characters of `s`. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/**
 * True for a word that looks generated rather than written: 16 characters or more without separators, mixing
 * letters and digits, with at least 3 bits of entropy per character (tokens, base64 keys, hex digests). Words of
 * host names, paths and URLs are split at their separators first, so `githubusercontent` stays readable.
 */
export function looksGenerated(word: string): boolean {
  return word.length >= 16 && /[A-Za-z]/.test(word) && /[0-9]/.test(word) && entropy(word) >= 3;
}

/** A string holds something secret-looking: a PEM block or a generated word. */
export function looksSecret(s: string): boolean {
  return PEM.test(s) || s.split(/[\s"'`,;:@/.=_-]+/).some(looksGenerated);
}

function isSecretPath(path: readonly PropertyKey[]): boolean {
  return path.some((p) => typeof p === "string" && SECRET_FIELD.test(p) && !SECRET_FILE_FIELD.test(p));
}

/**
 * How a value appears in a message: quoted when it is safe to show, otherwise a description of what it is.
 * `path` is where it sits in the spec; a value anywhere under a secret field is never shown.
 */
export function showValue(value: unknown, path: readonly PropertyKey[] = []): string {
  const field = path.length > 0 ? path[path.length - 1] : undefined;
  if (isSecretPath(path)) return "(secret)";
  if (typeof field === "string" && SECRET_FIELD.test(field) && SECRET_FILE_FIELD.test(field)) {
    if (typeof value !== "string" || !LOOKS_LIKE_PATH.test(value) || looksSecret(value))
      return "(secret: not shown, as it does not look like a file path)";
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return `a list of ${value.length} item(s)`;
  if (typeof value === "object") return "a mapping";
  if (typeof value !== "string") return String(value);
  if (PEM.test(value)) return "(hidden: a PEM key or certificate)";
  if (looksSecret(value)) return "(hidden: looks like a key or token)";
  if (value.length > MAX_SHOWN) return `${JSON.stringify(value.slice(0, MAX_SHOWN))}... (${value.length} characters)`;
  return JSON.stringify(value);
}

/** The last net under every message: hides any PEM block and any generated-looking word left in the text. */
export function maskText(text: string): string {
  return text
    .replace(PEM_BLOCK, "(hidden: a PEM key or certificate)")
    .replace(/[A-Za-z0-9+/=]{16,}/g, (run) => (run.split(/[/=]+/).some(looksGenerated) ? "(hidden)" : run));
}
