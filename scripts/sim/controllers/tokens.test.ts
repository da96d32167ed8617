import { describe, expect, it } from "vitest";
import { memberSideObjects } from "../../../components/karmada/join";
import { SA_UID_ANNOTATION, filledSecret, tokenDecision, tokenRequest } from "./tokens";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const b64 = (s: string) => Buffer.from(s).toString("base64");
const m = memberSideObjects("edge");
/** The program's token Secret as the API stores it. */
const secret = (over: any = {}): any => ({
  ...m.tokenSecret,
  metadata: { ...m.tokenSecret.metadata, uid: "secret-uid", resourceVersion: "7", ...over.metadata },
  ...(over.data === undefined ? {} : { data: over.data }),
});
const sa = { ...m.serviceAccount, metadata: { ...m.serviceAccount.metadata, uid: "sa-uid" } };

describe("the token controller's decision", () => {
  it("fills a new token Secret: token, ca.crt and namespace", () => {
    expect(tokenDecision(secret(), sa, CA)).toEqual({
      action: "fill",
      needsCA: true,
      needsNamespace: true,
      needsToken: true,
    });
  });

  it("deletes a Secret whose ServiceAccount does not exist, at once", () => {
    expect(tokenDecision(secret(), undefined, CA)).toEqual({
      action: "delete",
      why: "service account karmada-edge does not exist",
    });
  });

  it("deletes a Secret made for an earlier ServiceAccount of the same name (uid annotation differs)", () => {
    const s = secret({
      metadata: { annotations: { ...m.tokenSecret.metadata!.annotations, [SA_UID_ANNOTATION]: "old" } },
    });
    expect(tokenDecision(s, sa, CA).action).toBe("delete");
  });

  it("never syncs a Secret without the service-account name annotation, nor another type", () => {
    expect(tokenDecision(secret({ metadata: { annotations: {} } }), sa, CA).action).toBe("skip");
    expect(tokenDecision({ ...secret(), type: "Opaque" }, sa, CA).action).toBe("skip");
  });

  it("leaves a complete Secret alone, and rewrites only a changed CA", () => {
    const data = { token: b64("t"), namespace: b64("karmada-cluster"), "ca.crt": b64(CA) };
    expect(tokenDecision(secret({ data }), sa, CA)).toEqual({ action: "skip", why: "complete" });
    expect(tokenDecision(secret({ data }), sa, CA + "x")).toEqual({
      action: "fill",
      needsCA: true,
      needsNamespace: false,
      needsToken: false,
    });
  });

  it("writes the data it lacked and both annotations, keeping the resourceVersion it read", () => {
    const s = secret();
    const d = tokenDecision(s, sa, CA);
    if (d.action !== "fill") throw new Error("expected fill");
    const out = filledSecret(s, sa, d, CA, "the-token");
    expect(out.data).toEqual({ token: b64("the-token"), namespace: b64("karmada-cluster"), "ca.crt": b64(CA) });
    expect(out.metadata.annotations).toMatchObject({
      "kubernetes.io/service-account.name": "karmada-edge",
      "kubernetes.io/service-account.uid": "sa-uid",
    });
    expect(out.metadata.resourceVersion).toBe("7");
    expect(() => filledSecret(s, sa, d, CA, undefined)).toThrow(/token is needed/);
  });

  it("asks for a token bound to the Secret", () => {
    expect((tokenRequest(secret()) as any).spec.boundObjectRef).toEqual({
      kind: "Secret",
      apiVersion: "v1",
      name: "karmada-edge",
      uid: "secret-uid",
    });
  });
});
