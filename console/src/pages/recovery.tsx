/**
 * Bulk recovery of a failure group (definition × failed step × error type):
 * a dry run first, showing what each run would get, then the batch, followed
 * to its end. Built on POST /api/executions/bulk/reset|replay and
 * /api/batches (admin).
 */
import { useState } from 'preact/hooks';
import type { Batch, Preview } from '../api';
import type { PageProps } from '../main';
import { ConfirmButton, describe, Problem, Section, Status, useLoad, when } from '../ui';

export function RecoveryPage({ api, query }: PageProps) {
  const filter = {
    definition: query.get('definition') ?? undefined,
    failedStep: query.get('failedStep') ?? undefined,
    errorType: query.get('errorType') ?? undefined,
    ...(query.get('version') ? { version: Number(query.get('version')) } : {}),
  };
  const [action, setAction] = useState<'reset' | 'replay'>('reset');
  const [preview, setPreview] = useState<Preview>();
  const [problem, setProblem] = useState<string>();
  const body = (reason: string, dryRun: boolean) => ({ filter: JSON.parse(JSON.stringify(filter)) as unknown, reason, dryRun, limit: 50 });

  const look = async () => {
    setProblem(undefined);
    try {
      setPreview(await api.post<Preview>(`/api/executions/bulk/${action}`, body('dry run from the console', true)));
    } catch (err) {
      setPreview(undefined);
      setProblem(describe(err));
    }
  };

  return (
    <>
      <h1>Recover failed runs</h1>
      <dl class="facts">
        <dt>Definition</dt>
        <dd>{filter.definition ?? 'any'}</dd>
        <dt>Failed step</dt>
        <dd>{filter.failedStep ?? 'any'}</dd>
        <dt>Error type</dt>
        <dd>{filter.errorType ?? 'any'}</dd>
      </dl>
      <div class="filters">
        <label>
          What to do
          <select value={action} onChange={(e) => (setAction(e.currentTarget.value as 'reset' | 'replay'), setPreview(undefined))}>
            <option value="reset">reset each to its failed step</option>
            <option value="replay">replay each from the start</option>
          </select>
        </label>
        <button type="button" class="primary" onClick={() => void look()}>
          Dry run
        </button>
      </div>
      <Problem text={problem} />
      {preview && (
        <Section title="What would happen">
          <p>
            {preview.matched} run{preview.matched === 1 ? '' : 's'} match. Nothing has changed yet.
          </p>
          <table>
            <thead>
              <tr>
                <th scope="col">Definition</th>
                <th scope="col" class="num">Version</th>
                <th scope="col">Failed step</th>
                <th scope="col">Error type</th>
                <th scope="col" class="num">Runs</th>
              </tr>
            </thead>
            <tbody>
              {preview.groups.map((g) => (
                <tr>
                  <td>{g.definitionKey}</td>
                  <td class="num">{g.definitionVersion}</td>
                  <td>{g.failedStep ?? '–'}</td>
                  <td>{g.errorType ?? '–'}</td>
                  <td class="num">{g.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>The first {preview.runs.length}</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">What happens</th>
                <th scope="col">Already delivered</th>
              </tr>
            </thead>
            <tbody>
              {preview.runs.map((r) => (
                <tr>
                  <td>
                    <a href={`#/runs/${r.executionId}`}>{when(r.startedAt)}</a>
                  </td>
                  <td>{r.refused ? <span class="error-text">skipped: {r.refused}</span> : r.action}</td>
                  <td>{r.delivered.length ? r.delivered.map((d) => `${d.channel} at ${d.stepPath}`).join(', ') : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {preview.matched > 0 && (
            <div class="actions">
              <ConfirmButton
                label={`${action === 'reset' ? 'Reset' : 'Replay'} ${preview.matched} runs`}
                title={`${action === 'reset' ? 'Reset' : 'Replay'} ${preview.matched} runs?`}
                explain={
                  action === 'reset'
                    ? 'A batch resets each run to its failed step, a few at a time; messages the ledger shows sent are not sent again.'
                    : 'A batch replays each run from the start as a new execution: every step, and every message, again.'
                }
                needsReason
                onConfirm={async (reason) => {
                  const batch = await api.post<{ batchId: string }>(`/api/executions/bulk/${action}`, body(reason, false));
                  location.hash = `#/batches/${batch.batchId}`;
                }}
              />
            </div>
          )}
        </Section>
      )}
    </>
  );
}

const FINISHED = ['COMPLETED', 'CANCELLED'];

/** A batch's progress, followed until it ends. */
export function BatchPage({ api, params }: PageProps) {
  const id = params[0]!;
  const batch = useLoad(() => api.get<Batch>(`/api/batches/${encodeURIComponent(id)}`), [id], (b) => (FINISHED.includes(b.status) ? undefined : 1_000));
  const b = batch.data;
  if (!b) return batch.problem ? <Problem text={batch.problem} /> : <p role="status">Loading…</p>;
  const handled = b.done + b.failed + b.skipped;
  return (
    <>
      <h1>
        Batch <code>{b.id}</code> <Status status={b.status} />
      </h1>
      <p>
        {b.action === 'reset' ? 'Reset' : 'Replay'} of {b.total} runs by {b.requestedBy}: {b.reason}
      </p>
      <label>
        {handled} of {b.total} handled
        <progress max={b.total} value={handled} />
      </label>
      <p>
        done {b.done} · failed {b.failed} · skipped {b.skipped} · in hand {b.working} · waiting {b.pending}
      </p>
      {!FINISHED.includes(b.status) && (
        <div class="actions">
          <ConfirmButton
            label="Cancel the batch"
            title="Cancel this batch?"
            explain="Runs not begun are skipped; those in hand finish."
            needsReason
            danger
            onConfirm={async (reason) => {
              await api.post(`/api/batches/${encodeURIComponent(b.id)}/cancel`, { reason });
              batch.reload();
            }}
          />
        </div>
      )}
      {b.problems.length > 0 && (
        <Section title="Failed or skipped">
          <ul>
            {b.problems.map((p) => (
              <li>
                <a href={`#/runs/${p.executionId}`}>{p.executionId}</a> {p.outcome}: <span class="error-text">{p.detail}</span>
              </li>
            ))}
          </ul>
        </Section>
      )}
    </>
  );
}
