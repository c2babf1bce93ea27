/**
 * What the sandbox runtime needs from the host, found once: bubblewrap, the
 * user-mode network helper, cgroups, root. Each missing piece is reported in
 * one line that says how to get it.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { detectCgroups } from "./cgroups.js";

export interface SandboxTools {
  bwrap: string;
  slirp4netns: string;
  unshare: string;
  setpriv: string;
}

/** The absolute path of `name` on PATH, or undefined. */
export function findExecutable(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export type SandboxSupport = { ok: true; tools: SandboxTools } | { ok: false; problem: string };

/**
 * Whether containers can be sandboxed here. `problem` is one line naming
 * what is missing and how to install it.
 */
export function sandboxSupport(): SandboxSupport {
  if (process.platform !== "linux") return { ok: false, problem: "the sandbox runtime needs Linux (bubblewrap, namespaces, cgroups)" };
  const bwrap = findExecutable("bwrap");
  if (!bwrap) return { ok: false, problem: "bubblewrap is not installed (apt-get install bubblewrap)" };
  const slirp4netns = findExecutable("slirp4netns");
  if (!slirp4netns) return { ok: false, problem: "slirp4netns, the containers' user-mode network, is not installed (apt-get install slirp4netns)" };
  const unshare = findExecutable("unshare");
  const setpriv = findExecutable("setpriv");
  if (!unshare || !setpriv) return { ok: false, problem: "unshare and setpriv (util-linux) are not installed (apt-get install util-linux)" };
  if (process.getuid?.() !== 0) {
    return { ok: false, problem: "the sandbox runtime needs root: it gives every container its own host user id and cgroup limits" };
  }
  const cgroups = detectCgroups();
  if (!cgroups.ok) return { ok: false, problem: cgroups.problem };
  return { ok: true, tools: { bwrap, slirp4netns, unshare, setpriv } };
}
