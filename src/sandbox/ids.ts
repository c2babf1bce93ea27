/**
 * The host user and group ids sandboxes use. None of them is a login on the
 * host: containers are never root there, and image files are stored with
 * their owners shifted into a range of their own.
 *
 * - Image files: an image's uid/gid N is stored as IMAGE_ID_BASE + N, so the
 *   build sandbox (a user namespace mapping 0..65535 onto that range) runs as
 *   root inside while being nobody on the host.
 * - SANDBOX_GROUP (= the image range's root group): the one group that may
 *   pass through the directories bwrap reads mounts from (mode 0710); every
 *   build and container runs with it.
 * - Containers: each gets its own uid from CONTAINER_UID_BASE upwards, so
 *   nothing one container leaves on a shared path belongs to another.
 */
export const IMAGE_ID_BASE = 1_600_000_000;
export const IMAGE_ID_COUNT = 65_536;
export const SANDBOX_GROUP = IMAGE_ID_BASE;
export const CONTAINER_UID_BASE = 1_600_100_000;
const CONTAINER_UID_COUNT = 65_536;

/** The uid a container sees itself as (its host uid is its own, from CONTAINER_UID_BASE). */
export const CONTAINER_UID_INSIDE = 1000;

const taken = new Set<number>();

/** A host uid no other live container of this process has; random, so two servers on one host rarely pick the same. */
export function allocateContainerUid(): number {
  for (;;) {
    const uid = CONTAINER_UID_BASE + Math.floor(Math.random() * CONTAINER_UID_COUNT);
    if (taken.has(uid)) continue;
    taken.add(uid);
    return uid;
  }
}

export function releaseContainerUid(uid: number): void {
  taken.delete(uid);
}
