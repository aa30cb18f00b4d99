/**
 * `npm run cli -- deploy status|ramp <build> <percent>|promote <build>|rollback`:
 * moves runs between builds of the worker (Worker Versioning). Unlike the
 * rest of the CLI it talks to Temporal itself, with the workers' connection
 * settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS or API key, and
 * WORKER_DEPLOYMENT_NAME or `--deployment`): a deploy is run where the
 * release is, which needs no gateway key and works while gateways restart.
 */
import type { Command } from 'commander';
import type { TemporalClient } from '../../temporal/client';
import type { DeploymentStatus } from '../../temporal/deployments';
import { type Cli, EXIT, fail } from '../context';
import { table } from '../format';

type Deployments = typeof import('../../temporal/deployments');

/** The status as the CLI prints it: the routing, then a line per build. */
export function formatStatus(s: DeploymentStatus): string {
  const ramping = s.ramping ? `${s.ramping.buildId} at ${s.ramping.percentage}%` : 'none';
  return [
    `deployment: ${s.name}`,
    `current:    ${s.current ?? 'none (new runs go to unversioned workers)'}`,
    `ramping:    ${ramping}`,
    '',
    table(
      ['build', 'state', 'open runs', 'can stop', 'created'],
      s.builds.map((b) => [b.buildId, b.state === 'ramping' ? `ramping ${b.rampPercentage}%` : b.state, b.openRuns ?? '?', b.canStop ? 'yes' : 'no', b.createdAt]),
    ),
  ].join('\n');
}

/** Adds the `deploy` commands to the CLI. */
export function deployCommands(program: Command, { out: print }: Cli): void {
  const deploy = program
    .command('deploy')
    .description('builds of the worker (Worker Versioning), over Temporal with the workers\' TEMPORAL_* settings: status, ramp, promote, rollback')
    .option('--deployment <name>', 'the worker deployment (WORKER_DEPLOYMENT_NAME)');

  const run = (action: (temporal: TemporalClient, name: string, deployments: Deployments) => Promise<void>) => async () => {
    // Loaded only when a deploy command runs: every other command of the CLI starts without the
    // Temporal client and the configuration's schema (half a second a start).
    const [{ ConfigError, loadTemporalSettings }, { connectTemporal, isTemporalUnavailable }, deployments] = await Promise.all([
      import('../../config'),
      import('../../temporal/client'),
      import('../../temporal/deployments'),
    ]);
    let settings;
    try {
      settings = loadTemporalSettings();
    } catch (err) {
      if (err instanceof ConfigError) return fail(err.message, EXIT.usage);
      throw err;
    }
    const name = deploy.opts<{ deployment?: string }>().deployment ?? settings.deployment.name;
    if (!name) return fail('no worker deployment named: set WORKER_DEPLOYMENT_NAME (as the workers have it) or pass --deployment <name>', EXIT.usage);
    let temporal: TemporalClient;
    try {
      temporal = await connectTemporal(settings);
    } catch (err) {
      // A frontend that takes TLS only looks, to a plain client, like one that does not answer.
      const plain = settings.temporal.security?.tls ? '' : '; this connection is plain: if that Temporal takes TLS only, set its TEMPORAL_TLS_* settings (docs/DEPLOYMENT.md, "Connecting to a secured Temporal")';
      return fail(`cannot reach Temporal at ${settings.temporal.address}: ${err instanceof Error ? err.message : String(err)}${plain}`, EXIT.unreachable);
    }
    try {
      await action(temporal, name, deployments);
    } catch (err) {
      if (err instanceof deployments.DeploymentError) fail(err.message, EXIT.refused);
      else if (isTemporalUnavailable(err)) fail(`Temporal at ${settings.temporal.address} did not answer: ${(err as Error).message}`, EXIT.unreachable);
      else if (err instanceof Error && 'details' in err) fail(`Temporal refused: ${String((err as { details: unknown }).details || err.message)}`, EXIT.refused);
      else throw err;
    } finally {
      await temporal.connection.close();
    }
  };

  deploy
    .command('status')
    .description('the builds, which is current and which ramping, open runs on each, and which can be stopped')
    .action(
      run(async ({ client }, name, { deploymentStatus }) => {
        print(await deploymentStatus(client, name), formatStatus);
      }),
    );

  deploy
    .command('ramp <build> <percent>')
    .description('send <percent> of new runs (and of auto-upgrade runs) to <build>, the rest to the current build')
    .action(async (build: string, percent: string) => {
      const percentage = Number(percent);
      if (percent.trim() === '' || !Number.isFinite(percentage) || percentage < 0 || percentage > 100) {
        return fail(`the percentage must be a number from 0 to 100, not ${percent}`, EXIT.usage);
      }
      await run(async ({ client }, name, { ramp }) => {
        await ramp(client, name, build, percentage);
        print({ deployment: name, ramping: build, percentage }, () => `${name}: ${build} now takes ${percentage}% of new runs`);
      })();
    });

  deploy
    .command('promote <build>')
    .description('make <build> current: new runs go to it, auto-upgrade runs move to it at their next task, pinned runs stay where they are')
    .action(async (build: string) => {
      await run(async ({ client }, name, { promote }) => {
        const { previous } = await promote(client, name, build);
        print({ deployment: name, current: build, previous }, () => `${name}: ${build} is current${previous ? ` (was ${previous})` : ''}`);
      })();
    });

  deploy
    .command('rollback')
    .description('undo the last move: end a ramp, or make the previous current build current again')
    .action(
      run(async ({ client }, name, { rollback }) => {
        const result = await rollback(client, name);
        print({ deployment: name, ...result }, (r) =>
          r.ended === 'ramp' ? `${name}: ramp of ${r.from} ended; every new run goes to ${r.to}` : `${name}: ${r.to} is current again (was ${r.from ?? 'none'})`,
        );
      }),
    );
}
