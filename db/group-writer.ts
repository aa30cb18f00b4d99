/**
 * Group commit for small writes that many requests make at once: a write
 * asked for while another is in flight waits for it to end and then goes out
 * together with every other write that queued meanwhile, as one statement.
 * Alone, a write goes out at once, as it would without grouping; under load,
 * the database sees one statement (and one WAL flush) for many requests.
 *
 * Each caller still learns its own outcome: when a group fails, its writes are
 * tried one by one, so one bad row fails only its own request.
 */
export class GroupWriter<T> {
  private queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private writing = false;

  /**
   * @param write writes a group (one or more items) in one statement
   * @param maxGroup most items per statement
   */
  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxGroup = 100,
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
