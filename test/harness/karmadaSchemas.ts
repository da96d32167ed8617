/**
 * Test helper: validates objects against Karmada v1.13.0's own schemas (components/karmada/fixtures/README.md) and Kubernetes'
 * OpenAPI (the kubernetes-models package), and Helm values against the chart's values.yaml. Imported by tests only.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
/* eslint-disable @typescript-eslint/no-explicit-any -- objects under test are arbitrary JSON */
import { parse } from "yaml";

const FIXTURES = join(__dirname, "../../components/karmada/fixtures");

/**
 * The API server drops fields a structural schema does not declare (CRDs prune them) or rejects them (strict field
 * validation); either way a misspelt field is a bug here, so the tests close every object that lists its properties.
 */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = closeObjects(value);
  if (
    out.properties !== undefined &&
    out.additionalProperties === undefined &&
    out["x-kubernetes-preserve-unknown-fields"] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

function newAjv(): Ajv {
  // strict: false because Kubernetes schemas carry x-kubernetes-* keywords that are not JSON Schema.
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  // Kubernetes' own formats (apimachinery's strfmt): accepted as strings.
  for (const format of ["int-or-string", "byte"]) ajv.addFormat(format, true);
  return ajv;
}

type Gvk = `${string}/${string}`;
const validators = new Map<Gvk, ValidateFunction>();

function crdValidator(file: string, version: string): ValidateFunction {
  const crd = parse(readFileSync(join(FIXTURES, file), "utf8")) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: unknown } }[] };
  };
  const v = crd.spec.versions.find((x) => x.name === version);
  if (v === undefined) throw new Error(`${file} has no version ${version}`);
  return newAjv().compile(closeObjects(v.schema.openAPIV3Schema) as object);
}

let swagger: { definitions: Record<string, unknown> } | undefined;
function swaggerValidator(definition: string): ValidateFunction {
  swagger ??= JSON.parse(readFileSync(join(FIXTURES, "swagger.json"), "utf8")) as {
    definitions: Record<string, unknown>;
  };
  const definitions = closeObjects(swagger.definitions) as Record<string, unknown>;
  if (definitions[definition] === undefined) throw new Error(`swagger.json has no definition ${definition}`);
  return newAjv().compile({ definitions, $ref: `#/definitions/${definition}` });
}

const KARMADA_KINDS: Record<string, () => ValidateFunction> = {
  "policy.karmada.io/v1alpha1/PropagationPolicy": () =>
    crdValidator("policy.karmada.io_propagationpolicies.yaml", "v1alpha1"),
  "cluster.karmada.io/v1alpha1/Cluster": () =>
    swaggerValidator("com.github.karmada-io.karmada.pkg.apis.cluster.v1alpha1.Cluster"),
  "search.karmada.io/v1alpha1/ResourceRegistry": () =>
    swaggerValidator("com.github.karmada-io.karmada.pkg.apis.search.v1alpha1.ResourceRegistry"),
};

function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map(
    (e) =>
      `${e.instancePath || "/"} ${e.message ?? e.keyword}${e.keyword === "additionalProperties" ? `: ${JSON.stringify(e.params)}` : ""}`,
  );
}

/**
 * The rules karmada-aggregated-apiserver adds in Go on top of the OpenAPI for a Cluster
 * (pkg/apis/cluster/validation/validation.go at v1.13.0: ValidateClusterName 45-54, ValidateClusterSpec 75-103,
 * ValidateClusterAPIEndpoint 126-150). The swagger declares syncMode a plain string, so without these a typo passes.
 */
function clusterRuleErrors(obj: Record<string, any>): string[] {
  const errors: string[] = [];
  const name: unknown = obj.metadata?.name;
  if (
    typeof name !== "string" ||
    name.length === 0 ||
    name.length > 48 ||
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)
  ) {
    errors.push(`/metadata/name must be a DNS-1123 label of at most 48 characters`);
  }
  const spec = obj.spec ?? {};
  if (!["Pull", "Push"].includes(spec.syncMode)) errors.push(`/spec/syncMode must be Pull or Push`);
  if (typeof spec.apiEndpoint === "string" && spec.apiEndpoint !== "") {
    let u: URL | undefined;
    try {
      u = new URL(spec.apiEndpoint);
    } catch {
      errors.push(`/spec/apiEndpoint must be a valid URL`);
    }
    if (u !== undefined && (u.host === "" || u.username !== "" || u.hash !== "" || u.search !== "")) {
      errors.push(`/spec/apiEndpoint must have a host and no user, query or fragment`);
    }
  }
  for (const ref of ["secretRef", "impersonatorSecretRef"]) {
    if (spec[ref] !== undefined && (!spec[ref].namespace || !spec[ref].name)) {
      errors.push(`/spec/${ref} needs namespace and name`);
    }
  }
  return errors;
}

/** Errors of a Karmada object against v1.13.0's schema; [] when valid. Throws for a kind with no vendored schema. */
export function karmadaSchemaErrors(obj: { apiVersion: string; kind: string }): string[] {
  const gvk = `${obj.apiVersion}/${obj.kind}` as Gvk;
  const make = KARMADA_KINDS[gvk];
  if (make === undefined) throw new Error(`no vendored Karmada schema for ${gvk}`);
  let validate = validators.get(gvk);
  if (validate === undefined) {
    validate = make();
    validators.set(gvk, validate);
  }
  const errors = validate(obj) ? [] : formatErrors(validate.errors);
  if (obj.kind === "Cluster") errors.push(...clusterRuleErrors(obj as Record<string, any>));
  return errors;
}

/** The chart's own values.yaml at v1.13.0. */
export function chartValues(): Record<string, unknown> {
  return parse(readFileSync(join(FIXTURES, "values.yaml"), "utf8")) as Record<string, unknown>;
}

function isMap(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/**
 * Dotted paths of `values` that the chart does not declare. A key counts as declared down to a leaf of the chart's
 * values: a scalar, a list, or an empty map (a free-form map such as nodeSelector, whose keys are the user's).
 */
export function undeclaredValues(values: Record<string, unknown>, chart: Record<string, unknown>, at = ""): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const path = at === "" ? key : `${at}.${key}`;
    if (!(key in chart)) {
      out.push(path);
      continue;
    }
    const declared = chart[key];
    if (isMap(declared) && Object.keys(declared).length > 0) {
      if (isMap(value)) out.push(...undeclaredValues(value, declared, path));
      else out.push(`${path} (the chart declares a map here)`);
    }
  }
  return out;
}

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;
let coreKinds: Record<string, ModelClass> | undefined;

/** kubernetes-models is ESM-only and this project compiles to CommonJS: load it with import(). */
async function loadCoreKinds(): Promise<Record<string, ModelClass>> {
  const core = await import("kubernetes-models/v1");
  const apps = await import("kubernetes-models/apps/v1");
  const rbac = await import("kubernetes-models/rbac.authorization.k8s.io/v1");
  return {
    "v1/Namespace": core.Namespace,
    "v1/ServiceAccount": core.ServiceAccount,
    "v1/Secret": core.Secret,
    "v1/ConfigMap": core.ConfigMap,
    "v1/Service": core.Service,
    "apps/v1/Deployment": apps.Deployment,
    "rbac.authorization.k8s.io/v1/ClusterRole": rbac.ClusterRole,
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": rbac.ClusterRoleBinding,
  };
}

/**
 * Errors of a core Kubernetes object against Kubernetes' OpenAPI, through kubernetes-models' validators (compiled
 * from that OpenAPI); [] when valid. Those validators accept unknown fields: the builders' return types (the same
 * package's interfaces) catch misspelt fields at compile time instead.
 */
export async function coreSchemaErrors(obj: { apiVersion: string; kind: string }): Promise<string[]> {
  coreKinds ??= await loadCoreKinds();
  const Model = coreKinds[`${obj.apiVersion}/${obj.kind}`];
  if (Model === undefined) throw new Error(`no Kubernetes model for ${obj.apiVersion}/${obj.kind}`);
  try {
    new Model(obj as never).validate();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

/** Errors of any object the program sends, core or Karmada. */
export async function schemaErrors(obj: { apiVersion: string; kind: string }): Promise<string[]> {
  return `${obj.apiVersion}/${obj.kind}` in KARMADA_KINDS ? karmadaSchemaErrors(obj) : coreSchemaErrors(obj);
}
