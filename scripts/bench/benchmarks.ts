/**
 * The benchmarks `npm run bench` knows, and what each answers: its table and
 * the targets it checks. Each lives in a module of its own; those that compare
 * the interpreter with hand-written workflows share ./workload.ts.
 */
import type { Say } from '../lib/temporal';
import { cluster } from './cluster';
import { deploy } from './deploy';
import { encryption } from './encryption';
import type { BenchEnv } from './env';
import { expressions } from './expressions';
import { gateway } from './gateway';
import { gatewayLoad, gatewayLoadCluster } from './gateway-load';
import { hostile } from './hostile';
import { interpreter } from './interpreter';
import { mirror } from './mirror';
import { mirrorScale } from './mirror-scale';
import { outage } from './outage';
import { scale } from './scale';
import { sequential40 } from './sequential40';
import type { Table } from './stats';

export interface Target {
  /** The target as the issue states it. */
  goal: string;
  met: boolean;
  /** What was measured against it. */
  measured: string;
}

export interface Outcome {
  table: Table;
  targets: Target[];
  /** Markdown for the record only, after the notes (e.g. query plans): too long for the terminal. */
  details?: string | undefined;
}

/** Options of one `npm run bench` invocation. */
export interface RunOptions {
  /** Fraction of the full generated data set, for benchmarks that generate one (`--scale`). @default 1 */
  scale: number;
}

export interface Benchmark {
  name: string;
  summary: string;
  /** The workload in a line, for the record's table of workloads. */
  workload?: (options: RunOptions) => string;
  run(env: BenchEnv, say: Say, options: RunOptions): Promise<Outcome>;
}

export const BENCHMARKS: Benchmark[] = [interpreter, encryption, sequential40, mirror, gateway, gatewayLoad, gatewayLoadCluster, expressions, hostile, mirrorScale, scale, cluster, outage, deploy];
