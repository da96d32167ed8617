import { describe, expect, it } from "vitest";
import { CERT_WARN_DAYS, judgeCertificates, renderCertificates } from "./certificates";
import { selfSignedCertificate as certificate } from "../../test/harness/certs";

const DAY_MS = 24 * 60 * 60 * 1000;

describe("Karmada's certificates", () => {
  const ca = certificate("ca", 365);
  const leaf = certificate("system:admin", 10);
  const read = [
    { host: "karmada-host", key: "server-ca.crt", text: ca },
    { host: "karmada-host", key: "karmada.crt", text: leaf },
  ];

  it("a CA made for 365 days is fine today; a certificate with fewer than 30 days left warns, naming its last day", () => {
    const v = judgeCertificates(read);
    expect(v.certificates.map((c) => [c.source, c.daysLeft])).toEqual([
      ["karmada-host server-ca.crt", 364],
      ["karmada-host karmada.crt", 9],
    ]);
    expect(v.certificates[0].subject).toBe("CN=ca");
    expect(v.health).toBe("warn");
    expect(v.findings).toHaveLength(1);
    expect(v.findings[0]).toMatchObject({ level: "warn" });
    expect(v.findings[0].message).toMatch(
      /^karmada-host karmada\.crt: Karmada's certificate \(karmada-apiserver, etcd, their clients\) expires on \d{4}-\d\d-\d\d, in 9 days \(the chart makes its CAs for 365 days, whatever certs\.auto\.expiry says\); reinstall the Release/,
    );
    expect(CERT_WARN_DAYS).toBe(30);
  });

  it("a year and a day later the CA has expired: fail, the worst first", () => {
    const v = judgeCertificates(read, new Date(Date.now() + 366 * DAY_MS));
    expect(v.health).toBe("fail");
    expect(v.findings.map((f) => f.level)).toEqual(["fail", "fail"]);
    expect(v.findings[0].message).toMatch(/^karmada-host karmada\.crt: .* expired on /);
    expect(v.findings[1].message).toMatch(
      /^karmada-host server-ca\.crt: Karmada's CA expired on .*: Karmada's API and etcd refuse what it signed; a new install of the Release makes new certificates \(pulumi destroy, then pulumi up\)$/,
    );
    expect(renderCertificates(v.certificates)[0]).toMatch(
      /^ {2}karmada-host karmada\.crt: .*, valid until \d{4}-\d\d-\d\d \(expired \d+ days ago\)$/,
    );
  });

  it("all well: healthy, no finding; text that is not a certificate is said, not judged", () => {
    const v = judgeCertificates([
      { host: "h", key: "server-ca.crt", text: ca },
      { host: "h", key: "karmada.crt", text: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
    ]);
    expect(v.health).toBe("healthy");
    expect(v.findings).toEqual([]);
    expect(v.unreadable).toHaveLength(1);
    expect(v.unreadable[0]).toMatch(/^h karmada\.crt: not a PEM certificate/);
    expect(renderCertificates(v.certificates)).toEqual([
      expect.stringMatching(/^ {2}h server-ca\.crt: Karmada's CA, valid until \d{4}-\d\d-\d\d \(364 days left\)$/),
    ]);
  });
});
