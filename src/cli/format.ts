/** How the admin CLI prints: aligned tables for people, JSON for scripts, a progress bar on a terminal. */

export type Cell = string | number | boolean | null | undefined | Date;

const text = (cell: Cell): string => (cell === null || cell === undefined ? '–' : cell instanceof Date ? cell.toISOString() : String(cell));

/** A fixed-width table: a header line, then one line per row. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(text))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** `key: value` lines, for one record. */
export function fields(record: Record<string, Cell>): string {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  return Object.entries(record)
    .map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${text(v)}`)
    .join('\n');
}

/** A progress line: a bar on a terminal (redrawn in place), plain lines otherwise. */
export function progress(stream: NodeJS.WriteStream) {
  let last = '';
  return {
    update(done: number, total: number, detail: string): void {
      const width = 30;
      const filled = total > 0 ? Math.round((done / total) * width) : 0;
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${detail}`;
      if (line === last) return;
      last = line;
      if (stream.isTTY) stream.write(`\r${line}`);
      else stream.write(`${line}\n`);
    },
    end(): void {
      if (stream.isTTY && last) stream.write('\n');
    },
  };
}
