/** `npm run temporal:install`: finds or builds the Temporal CLI and prints its path. */
import { findOrBuildTemporalCli, TEMPORAL_CLI_VERSION } from './lib/temporal';

const say = (line: string) => process.stdout.write(`[temporal] ${line}\n`);

findOrBuildTemporalCli(say)
  .then((path) => {
    if (path) {
      say(`Temporal CLI ready: ${path}`);
      return;
    }
    say(
      `no Temporal CLI found and no Go toolchain to build ${TEMPORAL_CLI_VERSION}: install Go (https://go.dev/dl/) ` +
        'or the Temporal CLI (https://docs.temporal.io/cli); npm run dev can also use the SDK download of the dev server',
    );
    process.exitCode = 1;
  })
  .catch((err: unknown) => {
    say(`failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
