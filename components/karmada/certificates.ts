import { X509Certificate } from "node:crypto";

/**
 * How long Karmada's certificates have left, for `testbed doctor --stack` and `testbed reset`'s pre-flight.
 *
 * The chart's pre-install Job (chart 1.13.0, templates/pre-install-job.yaml:391-392) makes its two CAs with
 * `openssl req -x509 -days 365`, whatever `certs.auto.expiry` says: only the leaf certificates it signs get that
 * expiry (43800h here). So a year after the install, karmada-apiserver, its etcd and every client, the members' push
 * connections included, stop trusting each other, and nothing on the testbed says why. These certificates are what
 * the chart stores in the Secret `<release>-cert` (KARMADA_CERTS); none of them is a secret (their keys are not
 * read).
 */

/** The Secret's keys read, and what each is. */
export const KARMADA_CERTS = [
  { key: "server-ca.crt", what: "Karmada's CA" },
  { key: "karmada.crt", what: "Karmada's certificate (karmada-apiserver, etcd, their clients)" },
  { key: "front-proxy-ca.crt", what: "Karmada's front-proxy CA" },
  { key: "front-proxy-client.crt", what: "Karmada's front-proxy client certificate" },
] as const;

/** Fewer days left than this is a warning. */
export const CERT_WARN_DAYS = 30;

const DAY_MS = 24 * 60 * 60 * 1000;

export interface CertificateState {
  /** Where it was read: `<host> <Secret key>`. */
  source: string;
  what: string;
  subject: string;
  notAfter: Date;
  /** Whole days left (negative once expired). */
  daysLeft: number;
}

export interface CertificateVerdict {
  health: "healthy" | "warn" | "fail";
  certificates: CertificateState[];
  /** One line per certificate that needs attention, worst first. */
  findings: { level: "warn" | "fail"; message: string }[];
  /** What could not be read, and why. */
  unreadable: string[];
}

/** The PEM certificate in `text`, read at `now`. Throws on anything that is not one certificate. */
export function readCertificate(source: string, what: string, text: string, now: Date): CertificateState {
  const cert = new X509Certificate(text);
  const notAfter = new Date(cert.validTo);
  return {
    source,
    what,
    subject: cert.subject.replace(/\n/g, ", "),
    notAfter,
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS),
  };
}

/** The certificates read on the hosts (source, key, PEM text), judged at `now`. */
export function judgeCertificates(
  read: readonly { host: string; key: string; text: string }[],
  now: Date = new Date(),
  warnDays: number = CERT_WARN_DAYS,
): CertificateVerdict {
  const certificates: CertificateState[] = [];
  const unreadable: string[] = [];
  for (const r of read) {
    const what = KARMADA_CERTS.find((c) => c.key === r.key)?.what ?? r.key;
    try {
      certificates.push(readCertificate(`${r.host} ${r.key}`, what, r.text, now));
    } catch (err) {
      unreadable.push(`${r.host} ${r.key}: not a PEM certificate (${(err as Error).message})`);
    }
  }
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const findings: CertificateVerdict["findings"] = [];
  for (const c of [...certificates].sort((a, b) => a.daysLeft - b.daysLeft)) {
    if (c.notAfter.getTime() <= now.getTime())
      findings.push({
        level: "fail",
        message: `${c.source}: ${c.what} expired on ${day(c.notAfter)}: Karmada's API and etcd refuse what it signed; a new install of the Release makes new certificates (pulumi destroy, then pulumi up)`,
      });
    else if (c.daysLeft < warnDays)
      findings.push({
        level: "warn",
        message: `${c.source}: ${c.what} expires on ${day(c.notAfter)}, in ${c.daysLeft} days (the chart makes its CAs for 365 days, whatever certs.auto.expiry says); reinstall the Release before then (pulumi destroy, then pulumi up)`,
      });
  }
  const health = findings.some((f) => f.level === "fail") ? "fail" : findings.length > 0 ? "warn" : "healthy";
  return { health, certificates, findings, unreadable };
}

/** One line per certificate, the soonest to expire first: what it is, where, its last day and the days left. */
export function renderCertificates(certs: readonly CertificateState[]): string[] {
  return [...certs]
    .sort((a, b) => a.daysLeft - b.daysLeft)
    .map(
      (c) =>
        `  ${c.source}: ${c.what}, valid until ${c.notAfter.toISOString().slice(0, 10)} (${c.daysLeft < 0 ? `expired ${-c.daysLeft} days ago` : `${c.daysLeft} days left`})`,
    );
}
