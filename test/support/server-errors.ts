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
      this.last.add(brief(line));
    }
  }

  /** What to print, or undefined when the server logged no error. */
  report(): string | undefined {
    if (this.count === 0) return undefined;
    return `the Temporal server logged ${this.count} error line${this.count === 1 ? '' : 's'} (some are the failures tests cause on purpose); the last ones: ${this.last.text()}`;
  }
}

/** A line's time, message and error, without the stack trace the real server's JSON lines carry. */
function brief(line: string): string {
  if (line.startsWith('{')) {
    try {
      const { ts, msg, error } = JSON.parse(line) as { ts?: unknown; msg?: unknown; error?: unknown };
      return [ts, msg, error].filter((part) => part !== undefined).map(String).join(' ');
    } catch {
      // Not JSON after all: shown as it is.
    }
  }
  return line.length > 400 ? `${line.slice(0, 400)}…` : line;
}
