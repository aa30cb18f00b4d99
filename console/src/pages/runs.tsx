/** Runs, newest first, filtered by definition, status and start time, a page at a time (the API's cursor). */
import { useState } from 'preact/hooks';
import type { DefinitionSummary, ExecutionPage } from '../api';
import type { PageProps } from '../main';
import { duration, Problem, Status, useLoad, when } from '../ui';

const STATUSES = ['RUNNING', 'PENDING', 'SUCCESS', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'];

export function RunsPage({ api, query }: PageProps) {
  const filter = {
    definition: query.get('definition') ?? '',
    version: query.get('version') ?? '',
    failedStep: query.get('failedStep') ?? '',
    status: query.get('status') ?? '',
    from: query.get('from') ?? '',
    to: query.get('to') ?? '',
  };
  // Cursors of the pages before this one, for "newer".
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const definitions = useLoad(() => api.get<{ items: DefinitionSummary[] }>('/api/workflows', { limit: 200 }), []);
  const page = useLoad(
    () =>
      api.get<ExecutionPage>('/api/executions', {
        definition: filter.definition || undefined,
        version: filter.definition && filter.version ? filter.version : undefined,
        failedStep: filter.failedStep || undefined,
        status: filter.status || undefined,
        from: filter.from ? new Date(`${filter.from}T00:00:00Z`).toISOString() : undefined,
        to: filter.to ? new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86_400_000).toISOString() : undefined,
        cursor,
        limit: 50,
      }),
    [JSON.stringify(filter), cursor],
    refreshEvery(filter.status),
  );
  const keyOf = new Map((definitions.data?.items ?? []).map((d) => [d.id, d.key]));

  const apply = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const params = new URLSearchParams();
    for (const [name, value] of form) if (value) params.set(name, String(value));
    setCursors([]);
    location.hash = `#/runs${params.size ? `?${params}` : ''}`;
  };

  return (
    <>
      <h1>Runs</h1>
      <form class="filters" onSubmit={apply} aria-label="Filter runs">
        <label>
          Definition
          <select name="definition" value={filter.definition}>
            <option value="">all</option>
            {(definitions.data?.items ?? []).map((d) => (
              <option value={d.key}>{d.key}</option>
            ))}
          </select>
        </label>
        <label>
          Version
          <input type="number" name="version" min={1} step={1} value={filter.version} class="narrow" />
        </label>
        <label>
          Failed step
          <input name="failedStep" value={filter.failedStep} pattern="[A-Za-z][A-Za-z0-9_-]{0,63}" class="narrow" />
        </label>
        <label>
          Status
          <select name="status" value={filter.status}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Started from
          <input type="date" name="from" value={filter.from} />
        </label>
        <label>
          to
          <input type="date" name="to" value={filter.to} />
        </label>
        <button type="submit" class="primary">
          Show
        </button>
      </form>
      <Problem text={page.problem} />
      <table class="runs">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Definition</th>
            <th scope="col" class="num">Version</th>
            <th scope="col">Status</th>
            <th scope="col">Step</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {(page.data?.items ?? []).map((r) => (
            <tr>
              <td>
                <a href={`#/runs/${r.id}`}>{when(r.startedAt)}</a>
              </td>
              <td>{keyOf.get(r.definitionId) ?? r.definitionId}</td>
              <td class="num">{r.definitionVersion}</td>
              <td>
                <Status status={r.status} />
              </td>
              <td>{r.currentStep ?? '–'}</td>
              <td class="num">{duration(r.durationMs)}</td>
              <td class="error-text">{r.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.data && page.data.items.length === 0 && <p class="hint">No run matches.</p>}
      <div class="pager">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" disabled={!page.data?.nextCursor} onClick={() => page.data?.nextCursor && setCursors([...cursors, page.data.nextCursor])}>
          Older
        </button>
      </div>
    </>
  );
}

/** Lists of open runs refresh on their own; a list of ended ones does not change. */
function refreshEvery(status: string): number | undefined {
  return status === '' || status === 'RUNNING' || status === 'PENDING' ? 10_000 : undefined;
}
