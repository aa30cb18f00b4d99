/**
 * Group commit for small writes that many requests make at once: a write
 * asked for while another is in flight waits for it to end and then goes out
 * together with every other write that queued meanwhile, as one statement.
 * Alone, a write goes out at once, as it would without grouping; under load,
 * the database sees one statement (and one WAL flush) for many requests.
 *
 * Each caller still learns its own outcome: when a group fails, its writes are
 * tried one by one, so one bad row fails only its own request.
 *
 * A writer given a linger holds a lone write back that long for company
 * before it goes out: for writes nobody waits on, where one statement per
 * linger is worth more than being written at once.
 */
export class GroupWriter<T> {
  private queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private writing = false;

  /**
   * @param write writes a group (one or more items) in one statement
   * @param maxGroup most items per statement
   * @param lingerMs how long a write asked for while none is in flight waits for others before it goes out
   */
  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxGroup = 100,
    private readonly lingerMs = 0,
  ) {}

  /** Resolves once `item` is written (committed), rejects with its own error. */
  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      // Not unref'd: a process asked to exit still writes what it was given.
      if (this.lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, this.lingerMs));
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, this.maxGroup);
        try {
          await this.write(group.map((g) => g.item));
          for (const g of group) g.resolve();
        } catch (err) {
          if (group.length === 1) {
            group[0]!.reject(err);
            continue;
          }
          await Promise.all(
            group.map((g) => this.write([g.item]).then(g.resolve, g.reject)),
          );
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
