/**
 * A child process that evaluates the expressions too large for the workflow
 * thread, one at a time, so that none holds the worker: not its main thread
 * (which hands workflow tasks to the workflow thread and runs every other
 * activity), nor much of its CPU (the child runs at a low priority, so the
 * other runs come first), nor its memory (the child has its own heap
 * limit). An evaluation that is cancelled, or that outlives the child, ends
 * the child; the next one starts another.
 */
import { type ChildProcess, fork, spawn, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { EvaluationAnswer, EvaluationRequest } from './expression-child';
import { COMPILED, entryFile } from '../src/paths';

/** Largest heap of the child, in MB: an expression that builds more fails, and the worker keeps its memory. */
export const EXPRESSION_PROCESS_HEAP_MB = 256;
/**
 * The child's CPU priority (nice value): where the CPU is contended it gets
 * about a tenth of what a process of ordinary priority gets, and all that is
 * idle. At the lowest (19) it got about 1.5 % of a busy core, so a 3 s
 * evaluation took minutes on a loaded worker.
 */
export const EXPRESSION_PROCESS_PRIORITY = 10;

/**
 * Share of one core the child may use while it evaluates: it is stopped
 * (SIGSTOP) for the rest of each {@link PACE_PERIOD_MS}. Its priority only
 * counts where the CPU is contended; on a machine with a core to spare the
 * child took that core whole, and the worker, the Temporal server and
 * Postgres shared what was left: ordinary runs beside five hostile ones took
 * ×1.8 their time alone on 2 cores (`npm run bench -- hostile`). Its limit is
 * of CPU time, so an evaluation stopped half the time reaches the same limit,
 * later.
 */
export const EXPRESSION_PROCESS_CPU_SHARE = 0.5;
const PACE_PERIOD_MS = 40;

/** The child runs as the worker does: compiled (dist/node), or its TypeScript through tsx's loader. */
const CHILD = entryFile('activities/expression-child.ts');
const LOADER = COMPILED ? [] : ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href];
/** `nice` of coreutils or BusyBox, where there is one. */
const NICE = ['/usr/bin/nice', '/bin/nice'].find((path) => existsSync(path));

const memoryLimit = (mb: number) => `expression needed more than ${mb} MB of memory (the memory limit of an expression evaluated outside the workflow thread)`;

/** Why an evaluation got no answer from the child; `memory` when the expression took all the child's heap. */
export class EvaluationLost extends Error {
  constructor(
    message: string,
    readonly memory = false,
  ) {
    super(message);
    this.name = 'EvaluationLost';
  }
}

/** The evaluation the child is working on (there is one at a time), and how to end its wait. */
interface Current {
  id: number;
  child: ChildProcess;
  finish(outcome: EvaluationAnswer | Error): void;
}

export interface ExpressionProcessOptions {
  /** The child's CPU priority (nice value, -20 to 19). @default {@link EXPRESSION_PROCESS_PRIORITY} */
  priority?: number;
  /** The child's largest heap, in MB. @default {@link EXPRESSION_PROCESS_HEAP_MB} */
  heapMb?: number;
  /** Share of a core the child may use while it evaluates (1: no pacing). @default {@link EXPRESSION_PROCESS_CPU_SHARE} */
  cpuShare?: number;
}

export class ExpressionProcess {
  private readonly priority: number;
  private readonly heapMb: number;
  private readonly cpuShare: number;
  private child: ChildProcess | undefined;
  private current: Current | undefined;
  /** Evaluations run one after another: the tail of the queue. */
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 0;
  private unanswered = 0;

  constructor(options: ExpressionProcessOptions = {}) {
    this.priority = options.priority ?? EXPRESSION_PROCESS_PRIORITY;
    this.heapMb = options.heapMb ?? EXPRESSION_PROCESS_HEAP_MB;
    this.cpuShare = options.cpuShare ?? EXPRESSION_PROCESS_CPU_SHARE;
  }

  /**
   * Evaluates in the child, after the evaluations queued before it. `signal`
   * (the activity's cancellation) drops it from the queue, or ends the child
   * if it is being evaluated.
   */
  evaluate(source: string, data: EvaluationRequest['data'], signal?: AbortSignal): Promise<EvaluationAnswer> {
    this.unanswered += 1;
    const turn = this.queue.then(() => this.send({ id: ++this.nextId, source, data }, signal));
    this.queue = turn.catch(() => undefined);
    return turn.finally(() => {
      this.unanswered -= 1;
    });
  }

  /** Evaluations handed to this process and not answered yet: the one it is working on and those queued behind it. */
  get pending(): number {
    return this.unanswered;
  }

  /** The child's process id, while there is one. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the child now rather than at the first evaluation, which then need not wait for it. */
  start(): void {
    this.started();
  }

  /** Ends the child, failing what it was evaluating. */
  close(): void {
    this.child?.kill('SIGKILL');
  }

  private send(request: EvaluationRequest, signal?: AbortSignal): Promise<EvaluationAnswer> {
    signal?.throwIfAborted();
    const child = this.started();
    return new Promise<EvaluationAnswer>((resolve, reject) => {
      const onAbort = () => {
        // Let go of the child first: the evaluations queued behind this one start another.
        if (this.child === child) this.child = undefined;
        child.kill('SIGKILL');
        this.settle(request.id, signal?.reason instanceof Error ? signal.reason : new EvaluationLost('the evaluation was cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const stopPacing = pace(child, this.cpuShare);
      this.current = {
        id: request.id,
        child,
        finish: (outcome) => {
          stopPacing();
          signal?.removeEventListener('abort', onAbort);
          // Idle, the child does not keep the worker's event loop alive.
          holdOpen(child, false);
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      // While it evaluates, the child keeps the worker's event loop alive.
      holdOpen(child, true);
      child.send(request, (err) => {
        if (err) this.settle(request.id, new EvaluationLost(`the expression could not be handed to its process: ${err.message}`));
      });
    });
  }

  private started(): ChildProcess {
    if (this.child) return this.child;
    const node = [...LOADER, `--max-old-space-size=${this.heapMb}`];
    const options = {
      // Its standard error is kept for the message of a crash, not written to the worker's log (V8 writes pages there at its heap limit).
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'] as StdioOptions,
      serialization: 'advanced' as const,
    };
    // Started through `nice`, every thread of the child has the priority from its first instruction
    // (V8's garbage collector and the loader start threads before the child could lower its own).
    const child = NICE
      ? spawn(NICE, ['-n', String(this.priority), process.execPath, ...node, CHILD], options)
      : fork(CHILD, [], { ...options, execArgv: node });
    if (!NICE && child.pid !== undefined) {
      try {
        setPriority(child.pid, this.priority);
      } catch {
        // Where priorities cannot be set, the child still keeps the worker's main thread free.
      }
    }
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2_000);
    });
    child.on('message', (answer: EvaluationAnswer) => this.settle(answer.id, answer));
    child.on('error', (err) => this.lost(child, `the expression process failed: ${err.message}`));
    child.on('exit', (code, signal) => {
      // V8 aborts a process that reaches its heap limit.
      if (signal === 'SIGABRT' || code === 134) this.lost(child, memoryLimit(this.heapMb), true);
      else {
        const last = stderr.trim().split('\n').pop();
        this.lost(child, `the expression process ended (${signal ? `signal ${signal}` : `exit code ${code}`})${last ? `: ${last}` : ''}`);
      }
    });
    holdOpen(child, false);
    this.child = child;
    return child;
  }

  private settle(id: number, outcome: EvaluationAnswer | Error): void {
    const current = this.current;
    if (current?.id !== id) return;
    this.current = undefined;
    current.finish(outcome);
  }

  /** The child is gone: what it was evaluating gets no answer, and the next evaluation starts another. */
  private lost(child: ChildProcess, message: string, memory = false): void {
    if (this.child === child) this.child = undefined;
    if (this.current?.child === child) this.settle(this.current.id, new EvaluationLost(message, memory));
  }
}

/**
 * Lets the child run `share` of each period and stops it for the rest, until
 * the returned function is called (which lets it run again).
 */
function pace(child: ChildProcess, share: number): () => void {
  if (share >= 1 || process.platform === 'win32') return () => undefined;
  const runMs = PACE_PERIOD_MS * share;
  const pauseMs = PACE_PERIOD_MS - runMs;
  let stopped = false;
  const send = (signal: NodeJS.Signals) => {
    try {
      child.kill(signal);
    } catch {
      // Gone already: its exit settles the evaluation.
    }
  };
  const turn = () => {
    stopped = !stopped;
    send(stopped ? 'SIGSTOP' : 'SIGCONT');
    timer = setTimeout(turn, stopped ? pauseMs : runMs).unref();
  };
  let timer = setTimeout(turn, runMs).unref();
  return () => {
    clearTimeout(timer);
    if (stopped) send('SIGCONT');
  };
}

function holdOpen(child: ChildProcess, hold: boolean): void {
  if (hold) {
    child.ref();
    child.channel?.ref();
  } else {
    child.unref();
    child.channel?.unref();
  }
}

/** The worker's expression process: one per worker process, whatever the number of workers in it. */
export const expressionProcess = new ExpressionProcess();
