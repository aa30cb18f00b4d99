/**
 * What the admin CLI's command groups share: the exit codes, the global
 * options, the API client they make, how they print, and the parsers of
 * their arguments. Light on purpose: every command loads it at start.
 */
import { readFile } from 'node:fs/promises';
import { type Command, CommanderError } from 'commander';
import { ApiError, type ApiClient, createApiClient } from './client';

/** Exit codes. */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

/** The options given before the command. */
export interface Globals {
  url: string;
  key?: string;
  json?: boolean;
  poll: number;
}

/** What a command's action uses of the program. */
export interface Cli {
  globals(): Globals;
  /** A client of the gateway at `--url`, with `--key` or `WFA_API_KEY`. */
  api(): ApiClient;
  /** Prints `value` as JSON under --json, else what `human` makes of it. */
  out<T>(value: T, human: (v: T) => string): void;
}

export function cliOf(program: Command): Cli {
  const globals = () => program.opts<Globals>();
  return {
    globals,
    api() {
      const { url, key } = globals();
      return createApiClient(url, key ?? process.env.WFA_API_KEY);
    },
    out(value, human) {
      process.stdout.write(`${globals().json ? JSON.stringify(value, null, 2) : human(value)}\n`);
    },
  };
}

/** Says what went wrong on stderr and sets the exit code; the command then ends. */
export function fail(message: string, code: number): void {
  process.stderr.write(`wfa: ${message}\n`);
  process.exitCode = code;
}

/** A usage error: printed as `wfa: <message>`, exit 2. */
export const usage = (message: string, code = 'wfa.invalidArgument') => new CommanderError(EXIT.usage, code, message);

export function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw usage(`${name} takes a whole number of 1 or more, not ${value}`);
  return n;
}

export async function readJsonFile(path: string): Promise<unknown> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    throw usage(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'wfa.file');
  }
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw usage(`${path} is not JSON: ${(err as Error).message}`, 'wfa.file');
  }
}

export function parseData(json: string | undefined): Record<string, unknown> {
  if (json === undefined) return {};
  try {
    const value = JSON.parse(json) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // said below
  }
  throw usage(`--data takes a JSON object, e.g. '{"email":"ada@example.com"}'`);
}

/** What the gateway answers at `path`, or undefined where it has nothing there (404). */
export function getIfFound(client: ApiClient, path: string): Promise<any> {
  return client.get(path).catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
