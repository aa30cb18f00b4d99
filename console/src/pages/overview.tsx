/** What is happening: runs per day and success rate, what fails now, approvals waiting, deliveries. From /api/reports. */
import type { DailyReport, StepsReport, SummaryReport } from '../api';
import { roleAtLeast } from '../../../src/shared/roles';
import { Chart } from '../chart';
import { OUTBOX_DELIVERY_STATUS } from '../../../src/shared/run';
import { successRate } from '../../../src/shared/success-rate';
import { totalsByDefinition } from '../reports';
import type { PageProps } from '../main';
import { duration, percent, Problem, Section, useLoad, when } from '../ui';
import type { ApprovalsList } from './approvals';

const DAYS = 14;

export function OverviewPage({ api, session }: PageProps) {
  const today = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.now() - (DAYS - 1) * 86_400_000).toISOString().slice(0, 10);
  const summary = useLoad(() => api.get<SummaryReport>('/api/reports/summary', { from, to: today }), [], 30_000);
  const daily = useLoad(() => api.get<DailyReport>('/api/reports/daily', { from, to: today }), [], 30_000);
  const steps = useLoad(() => api.get<StepsReport>('/api/reports/steps', { from, to: today, limit: 8 }), [], 30_000);
  const approvals = useLoad(() => api.get<ApprovalsList>('/api/approvals'), [], 30_000);

  const days: string[] = [];
  for (let t = Date.parse(from); t <= Date.parse(today); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  const perDay = (pick: (r: DailyReport['items'][number]) => number) =>
    days.map((d) => (daily.data?.items ?? []).filter((r) => r.day === d).reduce((n, r) => n + pick(r), 0));
  const ended = perDay((r) => r.runs);
  const succeeded = perDay((r) => r.succeeded);
  const failed = perDay((r) => r.failed + r.timedOut);
  // Cancelled and terminated runs stay out of the rate (src/shared/success-rate.ts).
  const rate = days.map((_, i) => {
    const r = successRate({ succeeded: succeeded[i]!, failed: failed[i]!, timedOut: 0 });
    return r === null ? null : Math.round(r * 1000) / 10;
  });

  const byDefinition = totalsByDefinition(daily.data?.items ?? []);
  const s = summary.data;
  return (
    <>
      <h1>Overview</h1>
      <p class="hint">
        The last {DAYS} days (UTC). Reports as of {when(s?.asOf)}; open runs are counted live.
      </p>
      <Problem text={summary.problem ?? daily.problem} />
      {s && (
        <div class="tiles">
          <Tile label="Runs ended" value={String(s.runs)} />
          <Tile label="Success rate" value={percent(s.successRate)} />
          <Tile label="Failed" value={String(s.failed + s.timedOut)} tone={s.failed + s.timedOut > 0 ? 'bad' : undefined} />
          <Tile label="Cancelled or terminated" value={String(s.cancelled + s.terminated)} />
          <Tile label="Open now" value={String(s.open)} />
          <Tile label="Past SLA" value={String(s.slaBreached + s.openPastSla)} tone={s.slaBreached + s.openPastSla > 0 ? 'bad' : undefined} />
          <Tile label="p95 duration" value={duration(s.durationMs.p95)} />
          <Tile label="Waiting approvals" value={approvals.data ? String(approvals.data.items.length) : '…'} href="#/approvals" />
        </div>
      )}
      <Section title="Runs per day">
        <Chart
          title="Runs per day"
          days={days}
          series={[
            { label: 'ended', values: ended, color: '#3060c0' },
            { label: 'failed', values: failed, color: '#c03030' },
            { label: 'success %', values: rate, color: '#208040', percent: true },
          ]}
        />
      </Section>
      <div class="columns">
        <Section title="Success rate by definition">
          <table>
            <thead>
              <tr>
                <th scope="col">Definition</th>
                <th scope="col" class="num">Ended</th>
                <th scope="col" class="num">Success</th>
              </tr>
            </thead>
            <tbody>
              {[...byDefinition.entries()]
                .sort((a, b) => (a[1].successRate ?? 1) - (b[1].successRate ?? 1))
                .map(([key, d]) => (
                  <tr>
                    <td>
                      <a href={`#/definitions/${encodeURIComponent(key)}`}>{key}</a>
                    </td>
                    <td class="num">{d.runs}</td>
                    <td class="num">{percent(d.successRate)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </Section>
        <Section title="Failing steps">
          <Problem text={steps.problem} />
          <table>
            <thead>
              <tr>
                <th scope="col">Definition</th>
                <th scope="col">Step</th>
                <th scope="col" class="num">Failed</th>
                <th scope="col">Commonest error</th>
                {roleAtLeast(session.role, 'admin') && <th scope="col">Fix</th>}
              </tr>
            </thead>
            <tbody>
              {(steps.data?.items ?? [])
                .filter((st) => st.failed > 0)
                .map((st) => (
                  <tr>
                    <td>{st.definitionKey}</td>
                    <td>
                      <a href={`#/runs?${new URLSearchParams({ definition: st.definitionKey, failedStep: st.stepId })}`}>{st.stepId}</a>
                    </td>
                    <td class="num">
                      {st.failed} ({percent(st.failureRate)})
                    </td>
                    <td class="error-text">{st.topErrors[0] ? `${st.topErrors[0].errorType ?? 'untyped'}: ${st.topErrors[0].sample ?? ''}` : '–'}</td>
                    {roleAtLeast(session.role, 'admin') && (
                      <td>
                        <a href={recoveryLink(st.definitionKey, st.stepId, st.topErrors[0]?.errorType ?? null)}>Recover…</a>
                      </td>
                    )}
                  </tr>
                ))}
            </tbody>
          </table>
        </Section>
      </div>
      {s && s.deliveries.length > 0 && (
        <Section title="Deliveries">
          <table>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Ledger status</th>
                <th scope="col" class="num">Deliveries</th>
              </tr>
            </thead>
            <tbody>
              {s.deliveries.map((d) => (
                <tr>
                  <td>{d.channel}</td>
                  <td>{d.status === OUTBOX_DELIVERY_STATUS ? 'recorded, not delivered (dev outbox)' : d.status}</td>
                  <td class="num">{d.deliveries}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      )}
    </>
  );
}

function recoveryLink(definition: string, failedStep: string, errorType: string | null): string {
  const params = new URLSearchParams({ definition, failedStep, ...(errorType ? { errorType } : {}) });
  return `#/recovery?${params}`;
}

function Tile({ label, value, tone, href }: { label: string; value: string; tone?: 'bad'; href?: string }) {
  const body = (
    <>
      <span class="tile-value">{value}</span>
      <span class="tile-label">{label}</span>
    </>
  );
  return <div class={`tile${tone ? ` tile-${tone}` : ''}`}>{href ? <a href={href}>{body}</a> : body}</div>;
}
