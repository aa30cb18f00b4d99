/** Summaries of measured samples, and the tables the benchmarks print. */

/** The value at quantile `q` (0..1) by nearest rank: a sample that was measured, not interpolated. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The throughput of `rates` against `baseRates`, measured in rounds where the
 * two took turns: the median of each round's ratio. Load on a shared machine
 * drifts from round to round and reaches both variants of a round alike, so
 * pairing them cancels it; the ratio of the two medians would compare rounds
 * measured minutes apart.
 */
export function pairedRatio(rates: readonly number[], baseRates: readonly number[]): number {
  if (rates.length === 0 || rates.length !== baseRates.length) {
    throw new Error(`paired rounds must be as many on both sides and at least one (${rates.length} against ${baseRates.length})`);
  }
  return median(rates.map((r, i) => r / (baseRates[i] as number)));
}

/** A row's throughput from its rounds' rates: their median, and the rounds for pairing. */
export function fromRounds({ rates }: { rates: number[] }): Pick<Row, 'throughput' | 'rounds'> {
  return { throughput: median(rates), rounds: rates };
}

/** Says how a throughput ratio from rounds was taken, for a table's notes. */
export const PAIRED_NOTE = "throughput vs base: the median of the rounds' own ratios, the variants taking turns in each round";

export interface Row {
  variant: string;
  /** Latency samples in milliseconds. */
  samples: number[];
  /** Units of work per second (runs/s, steps/s), median of the rounds measured. */
  throughput: number;
  /**
   * The throughput of each round, in the order the variants took turns. When
   * the baseline has as many, the throughput ratio is {@link pairedRatio}.
   */
  rounds?: number[] | undefined;
  /** History events of one run, when counted. */
  events?: number | undefined;
  /** The row the ratios are taken against; none for a baseline. */
  baseline?: string | undefined;
}

export interface Table {
  title: string;
  /** What the latency column measures, e.g. "start → result, one run at a time". */
  latencyNote: string;
  /** Unit of the latency samples and columns. @default 'ms' */
  latencyUnit?: 'ms' | 'µs' | undefined;
  /** Unit of the throughput column, e.g. "runs/s at 10 in flight". */
  throughputUnit: string;
  rows: Row[];
  notes: string[];
  /** A table of counts instead of latency and throughput (`rows` then empty): its header and rows, printed as they are. */
  counts?: { headers: string[]; rows: string[][] } | undefined;
}

export interface Summary {
  variant: string;
  n: number;
  median: number;
  p95: number;
  p99: number;
  throughput: number;
  events: number | undefined;
  /** This row's median latency over its baseline's (1.00 = as fast; above 1 = slower). */
  latencyRatio: number | undefined;
  /** This row's throughput over its baseline's (above 1 = more work per second). */
  throughputRatio: number | undefined;
  baseline: string | undefined;
}

/** A row's throughput over its baseline's: paired round by round when both have their rounds. */
export function throughputRatio(row: Row, baseline: Row): number {
  if (row.rounds && baseline.rounds && row.rounds.length === baseline.rounds.length && row.rounds.length > 0) {
    return pairedRatio(row.rounds, baseline.rounds);
  }
  return row.throughput / baseline.throughput;
}

export function summarize(table: Table): Summary[] {
  const base = new Map(table.rows.map((r) => [r.variant, r]));
  return table.rows.map((row) => {
    const b = row.baseline ? base.get(row.baseline) : undefined;
    const med = median(row.samples);
    return {
      variant: row.variant,
      n: row.samples.length,
      median: med,
      p95: quantile(row.samples, 0.95),
      p99: quantile(row.samples, 0.99),
      throughput: row.throughput,
      events: row.events,
      latencyRatio: b ? med / median(b.samples) : undefined,
      throughputRatio: b ? throughputRatio(row, b) : undefined,
      baseline: row.baseline,
    };
  });
}

// Below 1, two significant digits: a sub-millisecond overhead would otherwise print as 0.0.
const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2)) : '–');
const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (v: number | undefined) => (v === undefined ? '–' : `×${v.toFixed(2)}`);

function cells(s: Summary): string[] {
  return [
    s.variant,
    String(s.n),
    ms(s.median),
    ms(s.p95),
    ms(s.p99),
    rate(s.throughput),
    ratio(s.latencyRatio),
    ratio(s.throughputRatio),
    s.baseline ?? '–',
    s.events === undefined ? '–' : String(s.events),
  ];
}

function headers(table: Table): string[] {
  const unit = table.latencyUnit ?? 'ms';
  return ['variant', 'n', `median ${unit}`, `p95 ${unit}`, `p99 ${unit}`, table.throughputUnit, 'median vs base', 'throughput vs base', 'base', 'events/run'];
}

/** A fixed-width table for the terminal. */
export function formatText(table: Table): string {
  const rows = table.counts ? [table.counts.headers, ...table.counts.rows] : [headers(table), ...summarize(table).map(cells)];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || table.counts ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [
    `${table.title}`,
    ...(table.counts ? [] : [`latency: ${table.latencyNote}`]),
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    ...table.notes.map((n) => `  ${n}`),
  ].join('\n');
}

/** The same table in Markdown. */
export function formatMarkdown(table: Table): string {
  const head = table.counts?.headers ?? headers(table);
  const body = table.counts?.rows ?? summarize(table).map(cells);
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((h) => (table.counts || h === 'variant' || h === 'base' ? '---' : '---:')).join('|')}|`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
