/** Listeners per app log, told when it changes: what a store's `watch` hands out. */
export class Watchers {
  private readonly listeners = new Map<string, Set<() => void>>();

  add(key: string, listener: () => void): () => void {
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  notify(key: string): void {
    for (const listener of this.listeners.get(key) ?? []) listener();
  }
}
