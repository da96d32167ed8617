import * as pulumi from "@pulumi/pulumi";

/**
 * The mock harness, as pulumi-awsx's tests use Pulumi's: every resource the code under test registers is recorded
 * with its type, name and inputs, so a test asserts them exactly; outputs echo the inputs plus whatever `outputsFor`
 * adds; unknown mock calls throw. `isSecret` is for the secret assertions of CONTRIBUTING.md, "Secrets".
 */
export interface MockedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

export function setupMocks(outputsFor: (r: MockedResource) => Record<string, unknown> = () => ({})): MockedResource[] {
  const created: MockedResource[] = [];
  void pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const r = { type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> };
        created.push(r);
        return { id: `${args.name}-id`, state: { ...args.inputs, ...outputsFor(r) } };
      },
      call: (args) => {
        throw new Error(`unexpected call to ${args.token}`);
      },
    },
    "testbed",
    "test",
    false,
  );
  return created;
}

/** Resolves an Output's value in a test (the mock runtime resolves everything). */
export function unwrap<T>(o: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Resolves whether an Output is secret. */
export function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(o);
}
