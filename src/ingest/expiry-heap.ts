// A binary min-heap of (time, item): expiry in O(log n) per change instead of a pass over every
// open item on every call.

export interface HeapEntry<T> {
  atMs: number;
  item: T;
}

export class ExpiryHeap<T> {
  #entries: HeapEntry<T>[] = [];

  get size(): number {
    return this.#entries.length;
  }

  push(atMs: number, item: T): void {
    const entries = this.#entries;
    entries.push({ atMs, item });
    let index = entries.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (entries[parent]!.atMs <= entries[index]!.atMs) break;
      [entries[parent], entries[index]] = [entries[index]!, entries[parent]!];
      index = parent;
    }
  }

  peek(): HeapEntry<T> | undefined {
    return this.#entries[0];
  }

  pop(): HeapEntry<T> | undefined {
    const entries = this.#entries;
    const top = entries[0];
    const last = entries.pop();
    if (entries.length > 0 && last) {
      entries[0] = last;
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let smallest = index;
        if (left < entries.length && entries[left]!.atMs < entries[smallest]!.atMs) smallest = left;
        if (right < entries.length && entries[right]!.atMs < entries[smallest]!.atMs) smallest = right;
        if (smallest === index) break;
        [entries[smallest], entries[index]] = [entries[index]!, entries[smallest]!];
        index = smallest;
      }
    }
    return top;
  }

  /** Replaces the contents (used to drop stale entries in one O(n) pass). */
  rebuild(entries: Iterable<HeapEntry<T>>): void {
    this.#entries = [];
    for (const entry of entries) this.push(entry.atMs, entry.item);
  }
}
