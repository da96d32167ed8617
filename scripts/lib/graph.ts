import type { RecordedResource } from "./programRunner";

/** A step of the plan: a resource `pulumi up` would create (components are only grouping, not steps). */
export interface PlanStep {
  name: string;
  type: string;
  /** The host a remote step runs on (its name's prefix before "/"); "(local)" for everything else. */
  host: string;
  dependsOn: string[];
  secretInputs: string[];
  /** 0 for steps with no dependencies; otherwise 1 + the deepest dependency: steps of one wave can run together. */
  wave: number;
}

/**
 * Turns the recorded resources into steps: a dependency on a component stands for every step inside it (that is
 * what Pulumi's dependsOn on a component means), and the steps come out in dependency order (by wave, then name).
 */
export function planSteps(resources: RecordedResource[]): PlanStep[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const children = new Map<string, RecordedResource[]>();
  for (const r of resources) if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  const customsUnder = (urn: string): string[] => {
    const r = byUrn.get(urn);
    if (r === undefined) return [];
    if (r.custom) return [r.name];
    return (children.get(urn) ?? []).flatMap((c) => customsUnder(c.urn));
  };
  const steps = resources.filter((r) => r.custom);
  const deps = new Map(
    steps.map((r) => [r.name, [...new Set(r.dependsOn.flatMap(customsUnder))].filter((n) => n !== r.name).sort()]),
  );
  const wave = new Map<string, number>();
  const visiting = new Set<string>();
  const waveOf = (name: string): number => {
    const known = wave.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) throw new Error(`dependency cycle through ${name}`);
    visiting.add(name);
    const w = Math.max(-1, ...(deps.get(name) ?? []).map(waveOf)) + 1;
    visiting.delete(name);
    wave.set(name, w);
    return w;
  };
  return steps
    .map((r) => ({
      name: r.name,
      type: r.type,
      host: r.name.includes("/") ? r.name.slice(0, r.name.indexOf("/")) : "(local)",
      dependsOn: deps.get(r.name) ?? [],
      secretInputs: r.secretInputs,
      wave: waveOf(r.name),
    }))
    .sort((a, b) => a.wave - b.wave || a.name.localeCompare(b.name));
}

/** The longest chain of dependent steps: the lower bound of a run's wall time, in steps. */
export function longestChain(steps: PlanStep[]): number {
  return steps.length === 0 ? 0 : Math.max(...steps.map((s) => s.wave)) + 1;
}

/**
 * The critical path: the chain of dependent steps with the largest total duration. Its length is the shortest wall
 * time any scheduler could reach with these step durations, however many steps it runs at once; the sum of all
 * durations divided by it bounds the speedup of a parallel run over a serial one. Steps without a duration count 0.
 */
export function criticalPath(
  steps: Pick<PlanStep, "name" | "dependsOn">[],
  durationMs: ReadonlyMap<string, number>,
): { totalMs: number; chain: string[] } {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const best = new Map<string, { finishMs: number; via?: string }>();
  const visiting = new Set<string>();
  const finish = (name: string): number => {
    const known = best.get(name);
    if (known !== undefined) return known.finishMs;
    if (visiting.has(name)) throw new Error(`dependency cycle through ${name}`);
    visiting.add(name);
    let start = 0;
    let via: string | undefined;
    for (const d of byName.get(name)?.dependsOn ?? []) {
      const f = finish(d);
      if (via === undefined || f > start) [start, via] = [f, d];
    }
    visiting.delete(name);
    const finishMs = start + (durationMs.get(name) ?? 0);
    best.set(name, { finishMs, via });
    return finishMs;
  };
  let last: string | undefined;
  for (const s of steps) if (last === undefined || finish(s.name) > finish(last)) last = s.name;
  const chain: string[] = [];
  for (let n = last; n !== undefined; n = best.get(n)?.via) chain.unshift(n);
  return { totalMs: last === undefined ? 0 : finish(last), chain };
}
