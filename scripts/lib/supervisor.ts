/**
 * Child processes kept running: one that exits is started again after a
 * backoff, saying so, while the others keep running; stopping stops each
 * whole. Each child leads a process group of its own, so a stop reaches
 * whatever it started too, and Ctrl-C in a terminal reaches only the script,
 * which stops the children in order (see stack.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface SupervisorOptions {
  say(line: string): void;
  /** Where a child's output lines go, prefixed with its name. @default this process's stdout and stderr */
  write?: (stream: 'stdout' | 'stderr', text: string) => void;
  /** The first restart's delay; it doubles with each quick exit. @default 1000 */
  initialBackoffMs?: number;
  /** @default 30000 */
  maxBackoffMs?: number;
  /** A child up this long has its backoff start again from the first delay. @default 60000 */
  stableAfterMs?: number;
  /** Quick exits in a row (each before `stableAfterMs`) after which the child is given up on. @default 5 */
  maxQuickExits?: number;
  /** Called when a child is given up on, after the supervisor says so. */
  onGiveUp?: (name: string) => void;
  /** How long a child has to stop on SIGTERM before its group is SIGKILLed. @default 6000 */
  graceMs?: number;
}

export interface SupervisedChild {
  readonly name: string;
  /** The running process's pid; undefined while it waits to be started again. */
  readonly pid: number | undefined;
  /** How many times it has been started again. */
  readonly restarts: number;
}

export interface Supervisor {
  /** Starts `command args` with `env` as `name`, and keeps it running. */
  start(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv): SupervisedChild;
  /** Stops every child (SIGTERM, then SIGKILL after the grace), each with its process group; says what it stopped. */
  stop(): Promise<void>;
}

export function createSupervisor(options: SupervisorOptions): Supervisor {
  const {
    say,
    write = (stream, text) => (stream === 'stdout' ? process.stdout : process.stderr).write(text),
    initialBackoffMs = 1_000,
    maxBackoffMs = 30_000,
    stableAfterMs = 60_000,
    maxQuickExits = 5,
    onGiveUp,
    graceMs = 6_000,
  } = options;
  let stopping = false;
  const members: Member[] = [];

  interface Member {
    name: string;
    restarts: number;
    /** Exits in a row, each before `stableAfterMs`. */
    quickExits: number;
    process: ChildProcess | undefined;
    /** Resolves when the running process has exited and its output is written. */
    exited: Promise<void>;
    /** The pending restart. */
    timer: NodeJS.Timeout | undefined;
  }

  const launch = (member: Member, command: string, args: readonly string[], env: NodeJS.ProcessEnv) => {
    const startedAt = Date.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const prefix = (chunk: Buffer) =>
      chunk
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => `[${member.name}] ${line}\n`)
        .join('');
    child.stdout?.on('data', (c: Buffer) => write('stdout', prefix(c)));
    child.stderr?.on('data', (c: Buffer) => write('stderr', prefix(c)));
    member.process = child;
    // Whatever it started goes with it (and lets its output pipes close).
    child.once('exit', () => child.pid && signalGroup(child.pid, 'SIGKILL'));
    member.exited = new Promise((resolve) => {
      // 'close', not 'exit': the output is all written by then.
      child.once('close', (code, signal) => {
        member.process = undefined;
        resolve();
        if (stopping) return;
        const how = signal ?? `code ${code}`;
        member.quickExits = Date.now() - startedAt < stableAfterMs ? member.quickExits + 1 : 1;
        if (member.quickExits > maxQuickExits) {
          say(`${member.name} exited (${how}) ${member.quickExits} times in a row, each within ${stableAfterMs / 1000} s of starting; not starting it again`);
          onGiveUp?.(member.name);
          return;
        }
        const delay = Math.min(initialBackoffMs * 2 ** (member.quickExits - 1), maxBackoffMs);
        say(`${member.name} exited (${how}); starting it again in ${formatMs(delay)}`);
        member.timer = setTimeout(() => {
          member.timer = undefined;
          if (stopping) return;
          member.restarts++;
          launch(member, command, args, env);
          say(`${member.name} started again (pid ${member.process?.pid}, restart ${member.restarts})`);
        }, delay);
      });
    });
    child.once('error', (err) => say(`${member.name} could not start: ${err.message}`));
  };

  return {
    start(name, command, args, env) {
      const member: Member = { name, restarts: 0, quickExits: 0, process: undefined, exited: Promise.resolve(), timer: undefined };
      members.push(member);
      launch(member, command, args, env);
      return {
        name,
        get pid() {
          return member.process?.pid;
        },
        get restarts() {
          return member.restarts;
        },
      };
    },
    async stop() {
      stopping = true;
      await Promise.all(
        members.map(async (member) => {
          clearTimeout(member.timer);
          const child = member.process;
          if (!child?.pid) return;
          const pid = child.pid;
          signalGroup(pid, 'SIGTERM');
          const kill = setTimeout(() => {
            say(`${member.name} did not stop within ${formatMs(graceMs)}; killing it`);
            signalGroup(pid, 'SIGKILL');
          }, graceMs);
          await member.exited;
          clearTimeout(kill);
          say(`stopped ${member.name} (pid ${pid})`);
        }),
      );
    },
  };
}

/** Signals the process group `pid` leads; nothing when it is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Stops a child the caller started: SIGTERM, then SIGKILL if it is still
 * there after `graceMs`; resolves once it has exited (at once if it had).
 */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
