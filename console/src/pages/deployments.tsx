/**
 * The worker deployment (admins): which build takes new runs, which ramps,
 * how many open runs each build holds and which can be stopped, refreshed
 * while the page is open. Builds are moved with `npm run cli -- deploy`.
 */
import type { DeploymentStatus } from '../../../src/temporal/deployments';
import type { PageProps } from '../main';
import { Problem, useLoad, when } from '../ui';

/** As the gateway answers: no name when it has no WORKER_DEPLOYMENT_NAME. */
type DeploymentAnswer = Omit<DeploymentStatus, 'name'> & { name: string | null };

export function DeploymentsPage({ api }: PageProps) {
  const status = useLoad(() => api.get<DeploymentAnswer>('/api/deployments'), [], 10_000);
  const d = status.data;
  return (
    <>
      <h1>Deployments</h1>
      <Problem text={status.problem} />
      {d && d.name === null && <p class="hint">Workers run unversioned: set WORKER_DEPLOYMENT_NAME on workers and gateways to deploy builds side by side.</p>}
      {d && d.name !== null && (
        <>
          <dl class="facts">
            <dt>Deployment</dt>
            <dd>
              <code>{d.name}</code>
            </dd>
            <dt>Current build</dt>
            <dd>{d.current ? <code>{d.current}</code> : 'none: new runs go to unversioned workers'}</dd>
            <dt>Ramping</dt>
            <dd>{d.ramping ? `${d.ramping.buildId} at ${d.ramping.percentage}%` : 'none'}</dd>
          </dl>
          <table>
            <thead>
              <tr>
                <th scope="col">Build</th>
                <th scope="col">State</th>
                <th scope="col" class="num">Open runs</th>
                <th scope="col">Can stop</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {d.builds.map((b) => (
                <tr key={b.buildId}>
                  <td>
                    <code>{b.buildId}</code>
                  </td>
                  <td>{b.state === 'ramping' ? `ramping ${b.rampPercentage}%` : b.state}</td>
                  <td class="num">{b.openRuns ?? '?'}</td>
                  <td>{b.canStop ? 'yes' : 'no'}</td>
                  <td>{when(b.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="hint">
            Ramp, promote and roll back with <code>npm run cli -- deploy</code>; stop a build&apos;s workers once it can be stopped.
          </p>
        </>
      )}
    </>
  );
}
