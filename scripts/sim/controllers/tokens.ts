/**
 * The token controller's decision for one Secret of type kubernetes.io/service-account-token, copied from
 * kubernetes/kubernetes pkg/controller/serviceaccount/tokens_controller.go (v1.31; functions named, as their line
 * numbers move between releases):
 *
 * - makeSecretQueueKey/parseSecretQueueKey: a Secret without the kubernetes.io/service-account.name annotation is
 *   not a valid key and is never synced.
 * - syncSecret + getServiceAccount(fetchOnCacheMiss=true): when the named ServiceAccount does not exist, or its uid
 *   differs from the Secret's kubernetes.io/service-account.uid annotation, the Secret is deleted at once, with a
 *   uid precondition (deleteToken). There is no grace: a Secret created before its ServiceAccount is gone.
 * - secretUpdateNeeded/generateTokenIfNeeded: ca.crt is written when it differs from the controller's root CA,
 *   namespace when empty, token when empty; both annotations (name and uid) are set; the write is an Update of the
 *   Secret as read, so a conflict leaves it to the next sync.
 *
 * The token itself: upstream signs a legacy JWT with the controller-manager's service-account key
 * (serviceaccount.LegacyClaims, never expiring). This double has no access to that key and asks the API for a token
 * instead (TokenRequest, bound to the Secret, so it stops authenticating when the Secret is deleted, as a legacy
 * token does); it authenticates against the same API as the same ServiceAccount.
 */

export const SA_NAME_ANNOTATION = "kubernetes.io/service-account.name";
export const SA_UID_ANNOTATION = "kubernetes.io/service-account.uid";
export const TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token";
/**
 * Lifetime asked for each token: legacy tokens never expire, a TokenRequest must name one; ten years outlives any
 * testbed (kube-apiserver caps it only when --service-account-max-token-expiration is set).
 */
export const TOKEN_EXPIRATION_S = 10 * 365 * 24 * 3600;

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

export type TokenDecision =
  | { action: "skip"; why: string }
  | { action: "delete"; why: string }
  | { action: "fill"; needsCA: boolean; needsNamespace: boolean; needsToken: boolean };

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/**
 * What the token controller does with `secret`, given the ServiceAccount its annotation names as the API returned
 * it (undefined: not found) and the root CA (PEM).
 */
export function tokenDecision(secret: any, serviceAccount: any | undefined, rootCA: string): TokenDecision {
  if (secret.type !== TOKEN_SECRET_TYPE) return { action: "skip", why: "not a service-account token Secret" };
  const name: string | undefined = secret.metadata?.annotations?.[SA_NAME_ANNOTATION];
  if (name === undefined || name === "") return { action: "skip", why: `no ${SA_NAME_ANNOTATION} annotation` };
  const uid: string | undefined = secret.metadata?.annotations?.[SA_UID_ANNOTATION];
  if (serviceAccount === undefined) return { action: "delete", why: `service account ${name} does not exist` };
  if (uid !== undefined && uid !== "" && uid !== serviceAccount.metadata.uid)
    return { action: "delete", why: `service account ${name} has uid ${serviceAccount.metadata.uid}, not ${uid}` };
  const data: Record<string, string> = secret.data ?? {};
  const needsCA = rootCA !== "" && data["ca.crt"] !== b64(rootCA);
  const needsNamespace = (data.namespace ?? "") === "";
  const needsToken = (data.token ?? "") === "";
  if (!needsCA && !needsNamespace && !needsToken) return { action: "skip", why: "complete" };
  return { action: "fill", needsCA, needsNamespace, needsToken };
}

/** The Secret generateTokenIfNeeded writes back: the data it lacked and both annotations. */
export function filledSecret(
  secret: any,
  serviceAccount: any,
  d: Extract<TokenDecision, { action: "fill" }>,
  rootCA: string,
  token: string | undefined,
): any {
  const data: Record<string, string> = { ...(secret.data ?? {}) };
  if (d.needsCA) data["ca.crt"] = b64(rootCA);
  if (d.needsNamespace) data.namespace = b64(secret.metadata.namespace);
  if (d.needsToken) {
    if (token === undefined) throw new Error("a token is needed");
    data.token = b64(token);
  }
  return {
    ...secret,
    metadata: {
      ...secret.metadata,
      annotations: {
        ...(secret.metadata.annotations ?? {}),
        [SA_NAME_ANNOTATION]: serviceAccount.metadata.name,
        [SA_UID_ANNOTATION]: serviceAccount.metadata.uid,
      },
    },
    data,
  };
}

/** The TokenRequest for a Secret's token: bound to the Secret, so deleting the Secret revokes it. */
export function tokenRequest(secret: any): object {
  return {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: {
      expirationSeconds: TOKEN_EXPIRATION_S,
      boundObjectRef: { kind: "Secret", apiVersion: "v1", name: secret.metadata.name, uid: secret.metadata.uid },
    },
  };
}
