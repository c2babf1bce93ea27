/**
 * A user namespace mapping ids 0..65535 onto the image id range on the host
 * (ids.ts): what an image build step runs in. Inside, the step is root with
 * every uid a package may chown to; on the host it is nobody, and the files
 * it writes are owned by the shifted ids the image store keeps.
 *
 * bwrap cannot map a range itself, so a placeholder process (`unshare --user
 * sleep`, dying with the server) creates the namespace as the image range's
 * root (so that user owns it and may join it), the server (root) writes its
 * maps, and bwrap, run as that same user, joins it through a descriptor of
 * `/proc/<pid>/ns/user`.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readlinkSync, writeFileSync } from "node:fs";
import { IMAGE_ID_BASE, IMAGE_ID_COUNT } from "./ids.js";

export interface MappedUserNamespace {
  /** An open descriptor of the namespace, for bwrap's `--userns`. */
  fd: number;
  /** Closes the descriptor and ends the placeholder; sandboxes that joined keep the namespace alive. */
  close(): void;
}

export async function createMappedUserNamespace(setpriv: string, unshare: string): Promise<MappedUserNamespace> {
  // --pdeathsig: the placeholder dies with the server even if close() never runs.
  const holder = spawn(setpriv, ["--pdeathsig", "SIGKILL", "--", unshare, "--user", "--", "sleep", "3600"], {
    stdio: "ignore",
    uid: IMAGE_ID_BASE,
    gid: IMAGE_ID_BASE,
  });
  holder.on("error", () => {});
  const end = () => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill("SIGKILL");
  };
  try {
    const own = readlinkSync("/proc/self/ns/user");
    const deadline = Date.now() + 5000;
    // unshare(2) happens just after spawn; until then the placeholder is still in our namespace.
    while (readNamespace(holder.pid!) === own || readNamespace(holder.pid!) === undefined) {
      if (holder.exitCode !== null || Date.now() > deadline) throw new Error("could not create the build's user namespace (unshare --user)");
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const map = `0 ${IMAGE_ID_BASE} ${IMAGE_ID_COUNT}\n`;
    writeFileSync(`/proc/${holder.pid}/uid_map`, map);
    writeFileSync(`/proc/${holder.pid}/gid_map`, map);
    const fd = openSync(`/proc/${holder.pid}/ns/user`, "r");
    let open = true;
    return {
      fd,
      close() {
        if (open) closeSync(fd);
        open = false;
        end();
      },
    };
  } catch (error) {
    end();
    throw error;
  }
}

function readNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/user`);
  } catch {
    return undefined;
  }
}
