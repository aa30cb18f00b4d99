/** One run: its steps as a timeline, what it sent, its live state while it runs, the Temporal UI link, and what the key's role may do to it. */
import type { ExecutionDetail, LogRow, RunDeliveries, RunDelivery } from '../api';
import { roleAtLeast } from '../../../src/shared/roles';
import { isOutboxResult } from '../../../src/shared/run';
import type { PageProps } from '../main';
import { ConfirmButton, duration, Problem, Section, Status, useLoad, when } from '../ui';

const OPEN = ['PENDING', 'RUNNING'];

interface StepLine {
  path: string;
  stepId: string;
  stepType: string;
  status: string;
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  error?: string | null;
  output?: unknown;
}

/** The step log folded to a line per step path: its last event, attempts, when it began and ended. */
export function timeline(logs: LogRow[]): StepLine[] {
  const lines = new Map<string, StepLine>();
  for (const log of logs) {
    const line = lines.get(log.stepPath) ?? { path: log.stepPath, stepId: log.stepId, stepType: log.stepType, status: 'STARTED', attempts: 0 };
    if (log.event === 'STARTED') {
      line.attempts += 1;
      line.startedAt ??= log.timestamp;
      line.status = 'RUNNING';
    } else {
      line.status = log.event;
      line.endedAt = log.timestamp;
      if (log.error) line.error = log.error;
      if (log.output !== null && log.output !== undefined) line.output = log.output;
    }
    lines.set(log.stepPath, line);
  }
  return [...lines.values()];
}

export function RunPage({ api, session, params }: PageProps) {
  const id = params[0]!;
  // An open run is followed as it goes; an ended one is read once.
  const run = useLoad(() => api.get<ExecutionDetail>(`/api/executions/${encodeURIComponent(id)}`), [id], (r) => (OPEN.includes(r.status) ? 2_000 : undefined));
  // Read again whenever the run shows progress (a step's event, its end), so a followed run's messages show as they go.
  const deliveries = useLoad(() => api.get<RunDeliveries>(`/api/executions/${encodeURIComponent(id)}/deliveries`), [id, run.data?.status, run.data?.logs.length]);
  const r = run.data;
  if (!r) return <>{run.problem ? <Problem text={run.problem} /> : <p role="status">Loading…</p>}</>;
  const open = OPEN.includes(r.status);

  const act = (path: string, body?: unknown) => async () => {
    await api.post(`/api/executions/${encodeURIComponent(r.id)}/${path}`, body);
    run.reload();
  };
  const lines = timeline(r.logs);
  const waiting = new Set(r.live?.steps.filter((s) => s.status === 'WAITING').map((s) => s.path) ?? []);
  return (
    <>
      <h1>
        Run <code>{r.id}</code> <Status status={r.status} />
      </h1>
      <Problem text={run.problem} />
      <dl class="facts">
        <dt>Workflow id</dt>
        <dd>
          <code>{r.workflowId}</code> · <a href={r.temporalUiUrl} target="_blank" rel="noopener noreferrer">open in the Temporal UI</a>
        </dd>
        <dt>Definition version</dt>
        <dd>{r.definitionVersion}</dd>
        <dt>Trigger</dt>
        <dd>{r.triggerType}</dd>
        {r.build && (
          <>
            <dt>Build</dt>
            <dd>
              <code>{r.build.buildId}</code>
              {r.build.behavior && ` (${r.build.behavior})`}
            </dd>
          </>
        )}
        <dt>Started</dt>
        <dd>{when(r.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>
          {when(r.finishedAt)} {r.durationMs !== null && `(${duration(r.durationMs)})`}
        </dd>
        {r.replayOf && (
          <>
            <dt>Replay of</dt>
            <dd>
              <a href={`#/runs/${r.replayOf}`}>{r.replayOf}</a>
            </dd>
          </>
        )}
        {r.error && (
          <>
            <dt>Error</dt>
            <dd class="error-text">{r.error}</dd>
          </>
        )}
      </dl>

      <div class="actions" aria-label="Actions">
        {open && roleAtLeast(session.role, 'operator') && (
          <ConfirmButton
            label="Cancel"
            title="Cancel this run?"
            explain="The run stops at its next step and runs its compensations; it ends CANCELLED."
            needsReason={false}
            onConfirm={act('cancel')}
          />
        )}
        {open && roleAtLeast(session.role, 'admin') && (
          <ConfirmButton
            label="Terminate"
            title="Terminate this run?"
            explain="The run stops at once; no workflow code runs, nothing is compensated. It ends TERMINATED."
            needsReason
            danger
            onConfirm={(reason) => act('terminate', { reason })()}
          />
        )}
        {!open && r.status !== 'SUCCESS' && roleAtLeast(session.role, 'admin') && (
          <ConfirmButton
            label="Reset to the failed step"
            title="Reset this run to the failed step?"
            explain="A new run of the same execution redoes the step that failed and what follows. Steps before it do not run again; messages already sent are not sent again."
            needsReason
            onConfirm={(reason) => act('reset', { reason, to: 'failed-step' })()}
          />
        )}
        {!open && roleAtLeast(session.role, 'admin') && (
          <ConfirmButton
            label="Replay"
            title="Replay this run?"
            explain="A new execution of the same version with the same trigger data: every step runs, and every message is sent, again."
            needsReason
            onConfirm={async (reason) => {
              const started = await api.post<{ executionId: string }>(`/api/executions/${encodeURIComponent(r.id)}/replay`, { reason });
              location.hash = `#/runs/${started.executionId}`;
            }}
          />
        )}
      </div>

      <details class="card">
        <summary>Trigger data</summary>
        <pre>{JSON.stringify(r.triggerData, null, 2)}</pre>
      </details>

      <Section title="Steps">
        <ol class="timeline">
          {lines.map((s) => (
            <li class={`step step-${(waiting.has(s.path) ? 'WAITING' : s.status).toLowerCase()}`}>
              <div class="step-head">
                <strong>{s.path}</strong> <span class="step-type">{s.stepType}</span> <Status status={waiting.has(s.path) ? 'WAITING' : s.status} />
                {s.attempts > 1 && <span class="hint"> {s.attempts} attempts</span>}
                <span class="hint">
                  {' '}
                  {when(s.startedAt)}
                  {s.endedAt && s.startedAt ? ` · ${duration(Date.parse(s.endedAt) - Date.parse(s.startedAt))}` : ''}
                </span>
              </div>
              {s.error && <p class="error-text">{s.error}</p>}
              {isOutboxResult(s.output) && (
                <p class="outbox-note">
                  Recorded in the dev outbox, not delivered: {s.output.channel} has no credentials ({s.output.missing.join(', ')} not set). List it with{' '}
                  <code>npm run cli -- outbox --run {r.id}</code>.
                </p>
              )}
              {s.output !== undefined && (
                <details>
                  <summary>Output</summary>
                  <pre>{JSON.stringify(s.output, null, 2)}</pre>
                </details>
              )}
            </li>
          ))}
        </ol>
        {lines.length === 0 && <p class="hint">No step has run yet.</p>}
      </Section>

      <Section title="Deliveries">
        <Problem text={deliveries.problem} />
        {deliveries.data && deliveries.data.items.length > 0 && (
          <table class="deliveries">
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Step</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">Attempts</th>
                <th scope="col">To</th>
                <th scope="col">Connection</th>
                <th scope="col">Last change</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.data.items.map((d) => (
                <tr key={d.stepPath}>
                  <td>{d.channel}</td>
                  <td>
                    <code>{d.stepPath}</code>
                  </td>
                  <td>
                    <Status status={d.status} />
                    {d.error && <div class="hint">{d.error}</div>}
                  </td>
                  <td class="num">{d.attempts}</td>
                  <td>{d.recipient ?? '–'}</td>
                  <td>{connectionOf(d)}</td>
                  <td title={`first attempt ${when(d.createdAt)}`}>{when(d.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {deliveries.data?.items.length === 0 && <p class="hint">Nothing sent: no step of this run has begun to send.</p>}
      </Section>

      {r.live && (
        <Section title="Live state">
          <p>
            Current steps: {r.live.currentSteps.length ? r.live.currentSteps.join(', ') : 'none'}
            {r.live.waitingFor.length > 0 && <> · waiting for events: {r.live.waitingFor.join(', ')}</>}
          </p>
          {r.live.approvals.map((a) => (
            <p>
              Approval <strong>{a.stepPath}</strong>: {a.decisions.length} of {a.required} decided; may decide:{' '}
              {a.approvers ? a.approvers.join(', ') : `role ${a.role} or higher`} · <a href="#/approvals">approvals inbox</a>
            </p>
          ))}
          <details>
            <summary>Variables</summary>
            <pre>{JSON.stringify(r.live.vars, null, 2)}</pre>
          </details>
        </Section>
      )}
    </>
  );
}

/** The connection a delivery went through, as `name@version`, or the environment's settings. */
function connectionOf(d: RunDelivery) {
  if (d.connection === null) return <span class="hint">environment</span>;
  return (
    <code>
      {d.connection}
      {d.connectionVersion !== null && `@${d.connectionVersion}`}
    </code>
  );
}
