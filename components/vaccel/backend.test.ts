import { describe, expect, it } from "vitest";
import { backendConfigData, backendConfigHash, backendOf } from "./backend";

describe("backendOf", () => {
  it("reads back what backendConfigData writes", () => {
    expect(backendOf(backendConfigData("local", "agent", 8192))).toBe("local");
    expect(backendOf(backendConfigData("remote", "agent", 8192))).toBe("remote");
  });

  it("says neither for a hand-edited or missing config", () => {
    expect(backendOf(undefined)).toBeUndefined();
    expect(backendOf({ VACCEL_PLUGINS: "libvaccel-rpc.so" })).toBeUndefined();
    expect(backendOf({ VACCEL_PLUGINS: "libvaccel-torch.so", VACCEL_RPC_ADDRESS: "tcp://x:1" })).toBeUndefined();
    expect(backendOf({ VACCEL_PLUGINS: "libvaccel-noop.so" })).toBeUndefined();
  });
});

describe("backendConfigHash", () => {
  it("depends on content, not key order", () => {
    expect(backendConfigHash({ a: "1", b: "2" })).toBe(backendConfigHash({ b: "2", a: "1" }));
    expect(backendConfigHash({ a: "1", b: "2" })).not.toBe(backendConfigHash({ a: "1", b: "3" }));
    expect(backendConfigHash({ a: "1" })).toMatch(/^[0-9a-f]{16}$/);
  });
});
