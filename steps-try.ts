import * as hosts from "./test/sim/hosts";
import * as engine from "./test/sim/engine";
(async () => {
  for (const serial of [false, true]) {
    await engine.destroy().catch(() => undefined);
    hosts.simDown(); hosts.simUp();
    const r = await engine.up({ serial });
    const t0 = Math.min(...r.steps.map((s) => s.startMs));
    console.log(serial ? "SERIAL" : "PARALLEL", r.wallMs);
    for (const s of [...r.steps].sort((a, b) => a.startMs - b.startMs))
      console.log(`${((s.startMs - t0) / 1000).toFixed(2).padStart(6)} ${((s.endMs - s.startMs) / 1000).toFixed(2).padStart(6)} ${s.name}`);
  }
  await engine.destroy(); hosts.simDown();
})().catch((e) => { console.error(e); process.exit(1); });
