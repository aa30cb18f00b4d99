/**
 * The approvals inbox: what waits on the signed-in person or role, with
 * approve and reject. Each card is one run's step: keyed by both, so what is
 * typed into one card never moves to another run's card when the list changes.
 */
import { useState } from 'preact/hooks';
import { roleAtLeast } from '../../../src/shared/roles';
import type { PageProps } from '../main';
import { describe, Problem, useLoad, when } from '../ui';

export interface ApprovalItem {
  executionId: string;
  workflowId: string;
  definitionKey: string;
  definitionName: string;
  definitionVersion: number;
  /** Null when too large to list; the run's page has it. */
  triggerData: Record<string, unknown> | null;
  stepPath: string;
  waitingSince: string;
  approvers: string[] | null;
  role: string | null;
  required: number;
  decisions: { by: string; decision: 'approve' | 'reject'; comment: string | null; at: string }[];
  mayDecide: boolean;
}
export interface ApprovalsList {
  items: ApprovalItem[];
}

export function ApprovalsPage({ api, session, query }: PageProps) {
  const all = query.get('all') === 'true' || !roleAtLeast(session.role, 'operator');
  const list = useLoad(() => api.get<ApprovalsList>('/api/approvals', { mine: all ? undefined : 'true' }), [all], 10_000);
  return (
    <>
      <h1>Approvals</h1>
      <p class="hint">
        {all ? 'Every approval waiting now.' : `Waiting on you (${session.name}) or your role.`}{' '}
        {roleAtLeast(session.role, 'operator') && <a href={all ? '#/approvals' : '#/approvals?all=true'}>{all ? 'Only mine' : 'Show all'}</a>}
      </p>
      <Problem text={list.problem} />
      {list.data?.items.length === 0 && <p class="hint">Nothing is waiting.</p>}
      <ul class="inbox">
        {(list.data?.items ?? []).map((a) => (
          <Approval key={`${a.executionId}/${a.stepPath}`} api={api} item={a} onDecided={list.reload} />
        ))}
      </ul>
    </>
  );
}

function Approval({ api, item, onDecided }: { api: PageProps['api']; item: ApprovalItem; onDecided(): void }) {
  const [comment, setComment] = useState('');
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const decide = async (decision: 'approve' | 'reject') => {
    setBusy(true);
    setProblem(undefined);
    try {
      await api.post(`/api/executions/${encodeURIComponent(item.executionId)}/approvals`, { step: item.stepPath, decision, ...(comment.trim() ? { comment: comment.trim() } : {}) });
      onDecided();
    } catch (err) {
      setProblem(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const id = `comment-${item.executionId}-${item.stepPath}`.replace(/[^\w-]/g, '-');
  return (
    <li class="card approval">
      <div class="card-head">
        <h2>
          {item.definitionKey} <span class="version">v{item.definitionVersion}</span> · <span class="step-id">{item.stepPath}</span>
        </h2>
        <a href={`#/runs/${item.executionId}`}>the run</a>
      </div>
      <p class="hint">{item.definitionName}</p>
      <p class="trigger-data">
        <span class="hint">Trigger data </span>
        {item.triggerData === null ? <span class="hint">too large to show here; the run has it</span> : <code>{compact(item.triggerData)}</code>}
      </p>
      <p class="hint">
        Waiting since {when(item.waitingSince)} · {item.decisions.length} of {item.required} decided · may decide:{' '}
        {item.approvers ? item.approvers.join(', ') : `role ${item.role} or higher`}
      </p>
      {item.decisions.length > 0 && (
        <ul>
          {item.decisions.map((d) => (
            <li>
              {d.by}: {d.decision}
              {d.comment ? ` (${d.comment})` : ''}
            </li>
          ))}
        </ul>
      )}
      {item.mayDecide && (
        <div class="decide">
          <label for={id}>
            Comment
            <input id={id} value={comment} maxLength={2000} onInput={(e) => setComment(e.currentTarget.value)} />
          </label>
          <button type="button" class="primary" disabled={busy} onClick={() => void decide('approve')}>
            Approve
          </button>
          <button type="button" class="danger" disabled={busy} onClick={() => void decide('reject')}>
            Reject
          </button>
        </div>
      )}
      <Problem text={problem} />
    </li>
  );
}

/** Trigger data on one line, cut short: enough to tell runs apart. Shown as text, never as markup. */
function compact(data: Record<string, unknown>): string {
  const text = JSON.stringify(data);
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}
