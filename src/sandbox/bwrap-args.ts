/**
 * The bubblewrap command line of a sandbox, as a pure function of what the
 * sandbox should see. Both container sandboxes and image build sandboxes
 * are described here, so there is one place that says what a sandbox is:
 *
 * - its own mount, pid, IPC, UTS, cgroup and network namespaces; a user
 *   namespace (a fresh one as an unprivileged host user for containers, a
 *   prepared one with a uid range for builds);
 * - a root filesystem (read-only for containers), a fresh /proc with /proc/sys
 *   read-only (bwrap covers it), a minimal read-only /dev, size-limited
 *   tmpfs mounts;
 * - an environment of exactly the given variables;
 * - dies with its parent (`--die-with-parent`: the server), in a session of
 *   its own (no terminal to inject keystrokes into).
 */

export interface SandboxMount {
  /** Host path. */
  source: string;
  /** Path inside the sandbox; must exist in a read-only root. */
  target: string;
  writable: boolean;
}

export interface SandboxTmpfs {
  target: string;
  /** Size limit in bytes; its pages also count against the memory limit. */
  sizeBytes: number;
}

export interface SandboxArgs {
  /** Host directory that becomes `/`. */
  root: string;
  /** Containers get a read-only root; a build step writes through an overlay mount. */
  rootWritable: boolean;
  mounts: SandboxMount[];
  /** Files made from the bytes read from a descriptor (bwrap reads it to EOF), read-only. */
  dataFiles: Array<{ fd: number; target: string }>;
  tmpfs: SandboxTmpfs[];
  /**
   * `new`: bwrap creates the user namespace and maps the unprivileged host
   * user it runs as onto `uid`/`gid` inside (containers). `{ fd }`: join a
   * prepared namespace (builds, whose namespace maps a whole uid range).
   */
  userNamespace: "new" | { fd: number };
  uid: number;
  gid: number;
  /**
   * Capabilities the command keeps inside its user namespace (they give no
   * power over the host: they act only on what that namespace owns). Build
   * steps need a few to run package managers as root; containers get none.
   */
  capabilities: string[];
  hostname: string;
  env: Record<string, string>;
  cwd: string;
  /** bwrap writes the sandbox's first process id here as JSON, then closes it. */
  infoFd: number;
  /** bwrap waits for a byte on this before it starts `command` (time to join cgroups). */
  blockFd: number;
  command: string[];
}

export function bwrapArgs(spec: SandboxArgs): string[] {
  const args = ["--die-with-parent", "--new-session"];
  if (spec.userNamespace === "new") args.push("--unshare-user", "--disable-userns");
  else args.push("--userns", String(spec.userNamespace.fd));
  args.push("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try");
  args.push(spec.rootWritable ? "--bind" : "--ro-bind", spec.root, "/");
  args.push("--proc", "/proc", "--dev", "/dev");
  // /dev itself belongs to the sandbox's user: read-only, except a small /dev/shm (POSIX shared memory).
  for (const tmpfs of spec.tmpfs) args.push("--perms", "1777", "--size", String(tmpfs.sizeBytes), "--tmpfs", tmpfs.target);
  args.push("--remount-ro", "/dev");
  for (const mount of spec.mounts) args.push(mount.writable ? "--bind" : "--ro-bind", mount.source, mount.target);
  // Readable by every user inside (apt fetches as its own `_apt` user and must read resolv.conf).
  for (const file of spec.dataFiles) args.push("--perms", "0644", "--ro-bind-data", String(file.fd), file.target);
  args.push("--hostname", spec.hostname);
  args.push("--uid", String(spec.uid), "--gid", String(spec.gid));
  for (const capability of spec.capabilities) args.push("--cap-add", capability);
  args.push("--clearenv");
  for (const [name, value] of Object.entries(spec.env)) args.push("--setenv", name, value);
  args.push("--chdir", spec.cwd);
  args.push("--info-fd", String(spec.infoFd), "--block-fd", String(spec.blockFd));
  args.push("--", ...spec.command);
  return args;
}
