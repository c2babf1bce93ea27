/**
 * The first step of every request, before routing: the host the request
 * names must be one host. A request carries exactly one `Host` header
 * (RFC 9112 §3.2), and a target in absolute form (`GET http://h/p`) must
 * name that same host (§3.2.2 lets the target win; a gateway that routes on
 * the header while something behind it reads the target would answer for
 * the wrong host). Anything else is a 400. An absolute target that agrees
 * is rewritten to origin form (`/p`), so what follows, the control API and
 * the container included, sees one shape.
 *
 * The common request (origin form, one Host) costs a character test and one
 * pass over the raw header names, with no allocation.
 */
import type { IncomingMessage } from "node:http";

/** Why the request's host is ambiguous, or null when it is not (then `req.url` is in origin form). */
export function hostProblem(req: IncomingMessage): string | null {
  if (countHost(req.rawHeaders) !== 1) return "A request must carry exactly one Host header.";
  const url = req.url ?? "";
  if (url.charCodeAt(0) === SLASH) return null;
  const authority = absoluteAuthority(url);
  if (authority === null) return "The request target must be a path (/...) or an absolute http URL.";
  if (!sameAuthority(authority.value, req.headers.host ?? "")) {
    return "The request target names another host than the Host header.";
  }
  req.url = authority.rest === "" ? "/" : authority.rest;
  return null;
}

const SLASH = 47;

/** How many raw header names are `Host`, in any case, without lowercasing each name. */
function countHost(raw: string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (
      name.length === 4 &&
      (name.charCodeAt(0) | 32) === 104 &&
      (name.charCodeAt(1) | 32) === 111 &&
      (name.charCodeAt(2) | 32) === 115 &&
      (name.charCodeAt(3) | 32) === 116
    ) {
      count++;
    }
  }
  return count;
}

/** `http://host:port/path?q` → `host:port` and `/path?q`; null for anything that is not an absolute http(s) URL. */
function absoluteAuthority(url: string): { value: string; rest: string } | null {
  const scheme = /^https?:\/\//i.exec(url);
  if (!scheme) return null;
  const start = scheme[0].length;
  let end = start;
  while (end < url.length && url[end] !== "/" && url[end] !== "?" && url[end] !== "#") end++;
  if (end === start || url.slice(start, end).includes("@")) return null;
  const rest = url.slice(end);
  return { value: url.slice(start, end), rest: rest.startsWith("?") ? `/${rest}` : rest };
}

/** Host names compare without case; `:80` is the same as no port. */
function sameAuthority(target: string, host: string): boolean {
  const normal = (value: string) => value.trim().toLowerCase().replace(/:80$/, "");
  return normal(target) === normal(host);
}
