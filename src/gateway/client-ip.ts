/**
 * Who the client is: the peer address, unless the peer is one of the
 * proxies the operator trusts (`berth server --trust-proxy`), in which case
 * `X-Forwarded-For` is read right to left past every trusted hop. Entries
 * left of the first untrusted address could be made up by the client, so
 * they are dropped: the function always sees a list whose first entry is
 * the client as far as trusted parties can tell.
 */
import { BlockList, isIP } from "node:net";

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** `entries`: addresses (`10.0.0.5`, `::1`) and CIDR ranges (`10.0.0.0/8`). Throws on anything else. */
  constructor(entries: readonly string[] = []) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [address, bits, extra] = entry.trim().split("/");
      const family = isIP(address ?? "");
      if (family === 0 || extra !== undefined || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
        throw new Error(`--trust-proxy: "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.1 or 10.0.0.0/8)`);
      }
      const type = family === 4 ? "ipv4" : "ipv6";
      if (bits === undefined) this.list.addAddress(address!, type);
      else this.list.addSubnet(address!, Number(bits), type);
    }
  }

  has(address: string): boolean {
    if (this.empty) return false;
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 4 ? "ipv4" : "ipv6");
  }
}

export interface ClientAddress {
  /** The client's address as the function sees it (`clientIp`). */
  clientIp: string;
  /** The `X-Forwarded-For` to send: client first, then the trusted hops. */
  forwardedFor: string;
  /** Whether the peer is a trusted proxy, so its X-Forwarded-Proto/-Host may stand. */
  trustedPeer: boolean;
}

export function clientAddress(peer: string, forwardedFor: string | undefined, trusted: TrustedProxies): ClientAddress {
  if (forwardedFor === undefined || !trusted.has(peer)) return { clientIp: peer, forwardedFor: peer, trustedPeer: trusted.has(peer) };
  const hops = forwardedFor.split(",").map((hop) => normaliseAddress(hop.trim()));
  const chain = [peer];
  let client = peer;
  for (let i = hops.length - 1; i >= 0 && trusted.has(client); i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) break;
    client = hop;
    chain.unshift(hop);
  }
  return { clientIp: client, forwardedFor: chain.join(", "), trustedPeer: true };
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: clients see the address family they connected with. */
export function normaliseAddress(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

/**
 * The key of a client in the per-address limits: an IPv4 address as it is
 * (an IPv4-mapped IPv6 address as its IPv4 part), an IPv6 address as its
 * /64 network. One IPv6 subscriber routinely holds a whole /64, so keying
 * on full addresses would give such a client 2^64 separate budgets.
 * Allocation-free for IPv4 peers, the common case.
 */
export function rateKey(address: string): string {
  if (!address.includes(":")) return address;
  if (address.startsWith("::ffff:") && address.includes(".")) return address.slice(7);
  const zone = address.indexOf("%");
  const bare = (zone === -1 ? address : address.slice(0, zone)).toLowerCase();
  const gap = bare.indexOf("::");
  let groups: string[];
  if (gap === -1) {
    groups = bare.split(":");
  } else {
    const head = gap === 0 ? [] : bare.slice(0, gap).split(":");
    const tailText = bare.slice(gap + 2);
    const tail = tailText === "" ? [] : tailText.split(":");
    // An embedded IPv4 tail (`::1.2.3.4`) is two groups wide.
    const tailWidth = tail.length + (tail.at(-1)?.includes(".") ? 1 : 0);
    groups = [...head, ...Array<string>(Math.max(0, 8 - head.length - tailWidth)).fill("0"), ...tail];
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
