/**
 * What differs between an object as the stack declares it and as the API holds it, and the JSON merge patch
 * (RFC 7386) that puts the declared fields back. The API adds to every object (defaults, status, Karmada's labels
 * on resource templates), so a field the declaration does not name is not drift; a field it names must be equal.
 * Lists are compared element by element the same way (a container gets defaults too) and, when they differ, are
 * replaced whole, as a merge patch replaces a list. Maps named `exact` are the declaration's alone: a key the
 * declaration lacks is drift there and is removed (a ConfigMap's data, where a stray VACCEL_RPC_ADDRESS changes the
 * backend; a Deployment's strategy, where a rollingUpdate left beside type Recreate is invalid).
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

const isMap = (x: unknown): x is Record<string, any> => x !== null && typeof x === "object" && !Array.isArray(x);

/** Whether `live` holds everything `declared` names, with equal values (lists: same length, each element so). */
export function covers(declared: unknown, live: unknown): boolean {
  if (Array.isArray(declared))
    return Array.isArray(live) && live.length === declared.length && declared.every((d, i) => covers(d, live[i]));
  if (isMap(declared))
    return isMap(live) && Object.entries(declared).every(([k, v]) => k in live && covers(v, live[k]));
  return declared === live;
}

export interface Drift {
  /** Dotted paths of the fields that differ, in the declaration's order; `(not declared)` marks a stray key. */
  paths: string[];
  /** The merge patch that restores them; {} when nothing differs. */
  patch: Record<string, any>;
}

/** Drift of `live` from `declared`; `exact` lists dotted paths of maps whose extra keys are drift too. */
export function drift(declared: Record<string, any>, live: Record<string, any>, exact: string[] = []): Drift {
  const paths: string[] = [];
  const walk = (d: Record<string, any>, l: Record<string, any>, at: string): Record<string, any> => {
    const patch: Record<string, any> = {};
    for (const [k, v] of Object.entries(d)) {
      const here = at === "" ? k : `${at}.${k}`;
      const lv = l[k];
      if (isMap(v) && isMap(lv)) {
        const sub = walk(v, lv, here);
        if (Object.keys(sub).length > 0) patch[k] = sub;
      } else if (!covers(v, lv)) {
        paths.push(here);
        patch[k] = v;
      }
    }
    if (exact.includes(at))
      for (const k of Object.keys(l))
        if (!(k in d)) {
          paths.push(`${at === "" ? k : `${at}.${k}`} (not declared)`);
          patch[k] = null;
        }
    return patch;
  };
  const patch = walk(declared, live, "");
  return { paths, patch };
}

/** Deep merge of merge patches (b wins), for one PATCH carrying two changes. */
export function mergePatches(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isMap(v) && isMap(out[k]) ? mergePatches(out[k], v) : v;
  return out;
}
