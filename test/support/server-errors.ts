import { RecentLines } from '../../scripts/lib/postgres';

/**
 * The error lines of the suite's Temporal server's log (it logs at warn and
 * above), counted, the last few kept, to be printed when the suite ends.
 */
export class ServerErrors {
  private count = 0;
  private readonly last = new RecentLines(10);
  private partial = '';

  add(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!/level=ERROR|"level":"error"/i.test(line)) continue;
      this.count += 1;
      this.last.add(line.length > 600 ? `${line.slice(0, 600)}…` : line);
    }
  }

  /** What to print, or undefined when the server logged no error. */
  report(): string | undefined {
    if (this.count === 0) return undefined;
    return `the Temporal server logged ${this.count} error line${this.count === 1 ? '' : 's'}; the last ones: ${this.last.text()}`;
  }
}
