/** Definitions: the list with their health, and one definition's steps, versions, a diff between two, and a form to start a run. */
import { useState } from 'preact/hooks';
import type { DailyReport, DefinitionDetail, DefinitionSummary, StepDoc } from '../api';
import { roleAtLeast } from '../../../src/shared/roles';
import { type NestedStepField, nestedStepLists } from '../../../src/shared/step-tree';
import { diffLines } from '../diff';
import { totalsByDefinition } from '../reports';
import type { PageProps } from '../main';
import { describe, percent, Problem, Section, useLoad, when } from '../ui';

export function DefinitionsPage({ api }: PageProps) {
  const list = useLoad(() => api.get<{ items: DefinitionSummary[] }>('/api/workflows', { limit: 200 }), []);
  const daily = useLoad(() => api.get<DailyReport>('/api/reports/daily'), []);
  const health = totalsByDefinition(daily.data?.items ?? []);
  return (
    <>
      <h1>Definitions</h1>
      <Problem text={list.problem} />
      <table>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Name</th>
            <th scope="col">Trigger</th>
            <th scope="col" class="num">Version</th>
            <th scope="col">Enabled</th>
            <th scope="col">Last ended run (day)</th>
            <th scope="col" class="num">Failure rate, 30 days</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.items ?? []).map((d) => {
            const h = health.get(d.key);
            return (
              <tr>
                <td>
                  <a href={`#/definitions/${encodeURIComponent(d.key)}`}>{d.key}</a>
                </td>
                <td>{d.name}</td>
                <td>{d.triggerType}</td>
                <td class="num">{d.version}</td>
                <td>{d.enabled ? 'yes' : 'no'}</td>
                <td>{h?.lastDay ?? '–'}</td>
                {/* Of the runs that ended on their own: cancelled and terminated ones are no failures. */}
                <td class="num">{h ? `${percent(h.succeeded + h.failed ? h.failed / (h.succeeded + h.failed) : null)} of ${h.succeeded + h.failed}` : '–'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

export function DefinitionPage({ api, session, params }: PageProps) {
  const key = params[0]!;
  const def = useLoad(() => api.get<DefinitionDetail>(`/api/workflows/${encodeURIComponent(key)}`), [key]);
  const d = def.data;
  if (!d) return def.problem ? <Problem text={def.problem} /> : <p role="status">Loading…</p>;
  return (
    <>
      <h1>
        {d.name} <code>{d.key}</code>
      </h1>
      <p class="hint">
        Version {d.version} · {d.enabled ? 'enabled' : 'disabled'} · trigger {d.triggerType} · <a href={`#/runs?definition=${encodeURIComponent(d.key)}`}>its runs</a>
      </p>
      {d.description && <p>{d.description}</p>}
      {d.definition.trigger?.type === 'schedule' && (
        <Section title="Schedule">
          <p>
            Cron <code>{String(d.definition.trigger.cron)}</code> ({String((d.definition.trigger as { timezone?: string }).timezone ?? 'UTC')})
            {d.schedule?.paused ? ' · paused' : ''}
            {d.schedule?.lastFiredAt ? ` · last fired ${when(d.schedule.lastFiredAt)}` : ''}
          </p>
          {d.schedule ? (
            <ol class="versions" aria-label="Next fire times">
              {d.schedule.nextFireTimes.map((t) => (
                <li>{when(t)}</li>
              ))}
            </ol>
          ) : (
            <p class="hint">No Temporal Schedule: the definition is disabled.</p>
          )}
        </Section>
      )}
      <div class="columns">
        <Section title="Steps">
          <Outline steps={d.definition.steps} />
        </Section>
        {roleAtLeast(session.role, 'operator') && d.enabled && (
          <Section title="Start a run">
            <StartForm api={api} definitionKey={d.key} schema={d.definition.inputSchema} />
          </Section>
        )}
      </div>
      <Versions api={api} detail={d} />
    </>
  );
}

/** The steps as a nested outline: branches, cases, parallel lanes, loop bodies, escalations and compensations under their step. */
export function Outline({ steps }: { steps: StepDoc[] }) {
  return (
    <ol class="outline">
      {steps.map((s) => (
        <li>
          <span class="step-id">{s.id}</span> <span class="step-type">{s.type}</span>
          {s.name && <span class="hint"> {s.name}</span>}
          {typeof s.if === 'string' && <span class="hint"> if {s.if}</span>}
          {children(s).map((c) => (
            <div class="branch">
              <span class="branch-label">{c.label}</span>
              <Outline steps={c.steps} />
            </div>
          ))}
        </li>
      ))}
    </ol>
  );
}

/** The step lists under a step (which fields hold them is src/shared/step-tree.ts's to say), each with its label. */
function children(step: StepDoc): { label: string; steps: StepDoc[] }[] {
  // A stored definition was validated: its nested lists hold steps.
  return nestedStepLists(step).map(({ path: [field, index], steps }) => ({ label: LABELS[field](step, Number(index)), steps: steps as StepDoc[] }));
}

/** What the outline calls a list nested in `step` under `field` (the `index`th, for cases, lanes and rungs). */
const LABELS: Record<NestedStepField, (step: StepDoc, index: number) => string> = {
  then: (step) => `then (when ${String(step.condition)})`,
  else: () => 'else',
  cases: (step, index) => `case ${JSON.stringify((step.cases as { equals: unknown }[])[index]?.equals)}`,
  default: () => 'default',
  branches: (_step, index) => `lane ${index + 1}`,
  onTimeout: (step) => `on timeout (${String(step.timeout)})`,
  steps: (step) => `for each of ${String(step.items)}`,
  escalation: (step, index) => `escalate after ${(step.escalation as { after: string }[])[index]?.after}`,
  onError: () => 'on error, compensate',
};

/** A form from the definition's input schema: a field per top-level property it can type, JSON for the rest. */
function StartForm({ api, definitionKey, schema }: { api: PageProps['api']; definitionKey: string; schema: Record<string, unknown> | undefined }) {
  const properties = (schema?.properties ?? {}) as Record<string, { type?: string; description?: string; enum?: unknown[] }>;
  const required = new Set((schema?.required ?? []) as string[]);
  const simple = Object.entries(properties).filter(([, p]) => ['string', 'number', 'integer', 'boolean'].includes(p.type ?? ''));
  const [json, setJson] = useState('{}');
  const [problem, setProblem] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(undefined);
    const form = new FormData(event.currentTarget as HTMLFormElement);
    let triggerData: Record<string, unknown>;
    try {
      triggerData = simple.length === Object.keys(properties).length && simple.length > 0 ? {} : (JSON.parse(json) as Record<string, unknown>);
    } catch {
      setProblem('the trigger data is not JSON');
      return;
    }
    for (const [name, p] of simple) {
      const raw = form.get(name);
      if (p.type === 'boolean') triggerData[name] = raw === 'on';
      else if (raw !== null && raw !== '') triggerData[name] = p.type === 'number' || p.type === 'integer' ? Number(raw) : String(raw);
    }
    try {
      const started = await api.post<{ executionId: string }>(`/api/workflows/${encodeURIComponent(definitionKey)}/execute`, { triggerData });
      location.hash = `#/runs/${started.executionId}`;
    } catch (err) {
      setProblem(describe(err));
    }
  };
  const onlySimple = simple.length > 0 && simple.length === Object.keys(properties).length;
  return (
    <form class="start" onSubmit={(e) => void submit(e)} aria-label="Start a run">
      {simple.map(([name, p]) => (
        <label>
          {name}
          {required.has(name) ? ' (required)' : ''}
          {p.type === 'boolean' ? (
            <input type="checkbox" name={name} />
          ) : p.enum ? (
            <select name={name} required={required.has(name)}>
              {p.enum.map((v) => (
                <option value={String(v)}>{String(v)}</option>
              ))}
            </select>
          ) : (
            p.type === 'string' ? (
              <input name={name} type="text" required={required.has(name)} />
            ) : (
              <input name={name} type="number" step="any" required={required.has(name)} />
            )
          )}
          {p.description && <span class="hint">{p.description}</span>}
        </label>
      ))}
      {!onlySimple && (
        <label>
          Trigger data (JSON)
          <textarea name="triggerData" rows={6} value={json} onInput={(e) => setJson(e.currentTarget.value)} spellcheck={false} />
        </label>
      )}
      <Problem text={problem} />
      <button type="submit" class="primary">
        Start
      </button>
    </form>
  );
}

function Versions({ api, detail }: { api: PageProps['api']; detail: DefinitionDetail }) {
  const versions = detail.versions.map((v) => v.version);
  const [left, setLeft] = useState(versions[1] ?? versions[0]!);
  const [right, setRight] = useState(versions[0]!);
  const load = (v: number) => api.get<{ definition: unknown }>(`/api/workflows/${encodeURIComponent(detail.key)}/versions/${v}`);
  const pair = useLoad(() => Promise.all([load(left), load(right)]), [left, right]);
  const lines = pair.data ? diffLines(JSON.stringify(pair.data[0].definition, null, 2), JSON.stringify(pair.data[1].definition, null, 2)) : [];
  const pick = (value: number, set: (v: number) => void, label: string) => (
    <label>
      {label}
      <select value={String(value)} onChange={(e) => set(Number(e.currentTarget.value))}>
        {versions.map((v) => (
          <option value={String(v)}>version {v}</option>
        ))}
      </select>
    </label>
  );
  return (
    <Section title="Versions">
      <ul class="versions">
        {detail.versions.map((v) => (
          <li>
            version {v.version} · {when(v.createdAt)}
            {v.createdBy ? ` · by ${v.createdBy}` : ''}
          </li>
        ))}
      </ul>
      {versions.length > 1 && (
        <>
          <div class="filters">
            {pick(left, setLeft, 'Compare')}
            {pick(right, setRight, 'with')}
          </div>
          <Problem text={pair.problem} />
          <pre class="diff" aria-label={`Changes from version ${left} to version ${right}`}>
            {lines
              .filter((l, i) => l.kind !== 'same' || lines.slice(Math.max(0, i - 2), i + 3).some((n) => n.kind !== 'same'))
              .map((l) => (
                <span class={`diff-${l.kind}`}>
                  {l.kind === 'added' ? '+ ' : l.kind === 'removed' ? '- ' : '  '}
                  {l.text}
                  {'\n'}
                </span>
              ))}
          </pre>
          {lines.every((l) => l.kind === 'same') && <p class="hint">The two versions are the same.</p>}
        </>
      )}
    </Section>
  );
}
