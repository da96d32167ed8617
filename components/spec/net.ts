/** Parses "a.b.c.d/n" into [first address as uint32, prefix length]. Input is already validated as a CIDR. */
function parseCidr(cidr: string): [number, number] {
  const [ip, bits] = cidr.split("/");
  const addr = ip.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const prefix = Number(bits);
  const size = 2 ** (32 - prefix);
  return [addr - (addr % size), prefix];
}

/** True when the two IPv4 ranges share at least one address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const [startA, prefixA] = parseCidr(a);
  const [startB, prefixB] = parseCidr(b);
  const endA = startA + 2 ** (32 - prefixA);
  const endB = startB + 2 ** (32 - prefixB);
  return startA < endB && startB < endA;
}
