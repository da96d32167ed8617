import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A self-signed certificate (PEM) with CN `cn`, valid for `days` from now, made as chart 1.13.0's pre-install Job
 * makes its CAs (`openssl req -x509 -days N`), with an EC key for speed. For the tests of Karmada's certificate checks.
 */
export function selfSignedCertificate(cn: string, days: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-cert-"));
  try {
    const made = spawnSync(
      "openssl",
      ["req", "-x509", "-sha256", "-new", "-nodes", "-days", String(days)]
        .concat(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .concat(["-keyout", path.join(dir, "c.key"), "-out", path.join(dir, "c.crt"), "-subj", `/CN=${cn}`]),
      { encoding: "utf8" },
    );
    if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
    return fs.readFileSync(path.join(dir, "c.crt"), "utf8");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
