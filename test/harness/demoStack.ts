import * as fs from "node:fs";
import * as path from "node:path";

const root = path.resolve(__dirname, "../..");
export const DEMO_STACK = path.join(root, "stacks/Pulumi.demo.yaml");

/**
 * Pinned image references as an operator puts them into the demo stack, which ships placeholders because no vAccel
 * image is published (components/spec/schema.ts). Under the reserved .example domain (RFC 2606): nothing pulls them.
 */
export const EXAMPLE_IMAGES = {
  agentImage: "registry.example/vaccel-rpc-agent:0.0.0-test",
  appImage: `registry.example/yolo-vaccel@sha256:${"a".repeat(64)}`,
};

/** stacks/Pulumi.demo.yaml as an operator fills it in, comments and all: its two image placeholders replaced. */
export function filledDemoText(): string {
  const shipped = fs.readFileSync(DEMO_STACK, "utf8");
  const filled = shipped
    .replace(/^( +agentImage: )"<registry>[^"]*"/m, `$1${EXAMPLE_IMAGES.agentImage}`)
    .replace(/^( +appImage: )"<registry>[^"]*"/m, `$1"${EXAMPLE_IMAGES.appImage}"`);
  if (filled.includes("<registry>")) throw new Error(`${DEMO_STACK}: its image placeholders have changed shape`);
  return filled;
}
