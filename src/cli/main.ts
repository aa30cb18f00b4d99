/**
 * `npm run cli -- <command>`: the admin CLI, over the gateway's HTTP API with
 * an API key (`WFA_URL`, `WFA_API_KEY`, or `--url`, `--key`), so it works
 * against a remote deployment and with the key's role. `--json` prints the
 * API's answers as they are, for scripts.
 *
 * Exit codes: 0 done; 1 the gateway refused (the problem is printed), or a
 * followed run or batch did not succeed; 2 a usage error; 3 the gateway
 * could not be reached.
 */
import { Command, CommanderError } from 'commander';
import { ApiError, Unreachable } from './client';
import { type Cli, cliOf, EXIT, fail, positive } from './context';

const program = new Command('wfa')
  .description('Workflow automation admin CLI: definitions, runs, recovery, batches, reports, keys and the audit log, over the gateway API')
  .option('--url <url>', 'the gateway (WFA_URL)', process.env.WFA_URL ?? 'http://127.0.0.1:3000')
  .option('--key <key>', 'an API key (WFA_API_KEY)')
  .option('--json', 'print the API answers as JSON')
  .option('--poll <ms>', 'how often follow and progress poll', (v) => positive(v, '--poll'), 1000)
  .showHelpAfterError()
  .exitOverride();

type Register = (program: Command, cli: Cli) => void;

/**
 * The command groups, in the order the help lists them. A start loads only the module of the group
 * it runs (all of them for the help of the whole program), and what a command needs beyond the
 * gateway's API (`deploy`: the Temporal client and the configuration) is loaded when it runs.
 */
const GROUPS: Record<string, () => Promise<Register>> = {
  definitions: async () => (await import('./commands/definitions')).definitionCommands,
  runs: async () => (await import('./commands/runs')).runCommands,
  batches: async () => (await import('./commands/batches')).batchCommands,
  outbox: async () => (await import('./commands/outbox')).outboxCommand,
  reports: async () => (await import('./commands/reports')).reportCommands,
  audit: async () => (await import('./commands/audit')).auditCommand,
  keys: async () => (await import('./commands/keys')).keyCommands,
  connections: async () => (await import('./commands/connections')).connectionCommands,
  deploy: async () => (await import('./commands/deploy')).deployCommands,
};

/**
 * The command the arguments name: the first word that is neither one of the program's options nor
 * the value of one, as commander reads them. Undefined where an option is not the program's (help,
 * or a mistake whose message may show the whole program's help).
 */
function commandNamed(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (!arg.startsWith('-')) return arg;
    const [flag, value] = arg.split('=', 2);
    const option = program.options.find((o) => o.long === flag || o.short === flag);
    if (!option) return undefined;
    if (value === undefined && (option.required || (option.optional && !(args[i + 1] ?? '-').startsWith('-')))) i += 1;
  }
  return undefined;
}

const named = commandNamed(process.argv.slice(2));
const loading = named !== undefined && Object.hasOwn(GROUPS, named) ? [GROUPS[named]!] : Object.values(GROUPS);
const cli = cliOf(program);
for (const register of await Promise.all(loading.map((load) => load()))) register(program, cli);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; commander has printed its usage message already.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') process.exitCode = EXIT.ok;
    else if (err.code.startsWith('wfa.')) fail(err.message, EXIT.usage);
    else process.exitCode = EXIT.usage;
  } else if (err instanceof ApiError) {
    const detail = (err.problem.errors ?? []).map((e) => `\n  ${e.path}: ${e.message}`).join('');
    fail(`${err.status} ${err.problem.code}: ${err.problem.message}${detail}`, EXIT.refused);
  } else if (err instanceof Unreachable) {
    fail(err.message, EXIT.unreachable);
  } else {
    throw err;
  }
}
