/** Pieces every page uses: loading what a page shows, problems, statuses, times, and a confirmation that asks why. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiProblem } from './api';

export interface Loaded<T> {
  data: T | undefined;
  problem: string | undefined;
  reload(): void;
}

/**
 * Runs `load` when `deps` change (and on reload), keeping the last answer
 * while the next loads; then again after `everyMs` (a number, or what it
 * answers for the data just loaded: an open run is followed, an ended one not).
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number | ((data: T) => number | undefined)): Loaded<T> {
  const [data, setData] = useState<T>();
  const [problem, setProblem] = useState<string>();
  const [tick, setTick] = useState(0);
  const every = useRef(everyMs);
  every.current = everyMs;
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    load()
      .then((value) => {
        if (!live) return;
        setData(value);
        setProblem(undefined);
        const ms = typeof every.current === 'function' ? every.current(value) : every.current;
        if (ms) timer = setTimeout(reload, ms);
      })
      .catch((err: unknown) => {
        if (!live) return;
        setProblem(describe(err));
        const ms = typeof every.current === 'number' ? every.current : undefined;
        if (ms) timer = setTimeout(reload, ms);
      });
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, problem, reload };
}

export function describe(err: unknown): string {
  if (err instanceof ApiProblem) {
    const fields = err.fields.map((f) => `${f.path} ${f.message}`).join('; ');
    return fields && !err.message.includes(fields) ? `${err.message} (${fields})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function Problem({ text }: { text: string | undefined }) {
  return text ? (
    <p class="problem" role="alert">
      {text}
    </p>
  ) : null;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <div class="card-head">
        <h2>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status}</span>;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)} UTC`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

export function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)}%`;
}

/**
 * A button that asks first: a dialog saying what will happen, with a reason
 * field when the action records one. `onConfirm` gets the reason; its
 * refusal is shown in the dialog.
 */
export function ConfirmButton({
  label,
  title,
  explain,
  needsReason,
  danger,
  onConfirm,
}: {
  label: string;
  title: string;
  explain: string;
  needsReason: boolean;
  danger?: boolean;
  onConfirm(reason: string): Promise<void>;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const open = () => {
    setReason('');
    setProblem(undefined);
    dialog.current?.showModal();
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      await onConfirm(reason.trim());
      dialog.current?.close();
    } catch (err) {
      setProblem(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const id = `reason-${label.toLowerCase().replace(/\W+/g, '-')}`;
  return (
    <>
      <button type="button" class={danger ? 'danger' : undefined} onClick={open}>
        {label}
      </button>
      <dialog ref={dialog} aria-label={title}>
        <form method="dialog" onSubmit={(e) => void submit(e)}>
          <h3>{title}</h3>
          <p>{explain}</p>
          {needsReason && (
            <label for={id}>
              Reason (kept in the audit log)
              <textarea id={id} required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            </label>
          )}
          <Problem text={problem} />
          <div class="buttons">
            <button type="button" onClick={() => dialog.current?.close()}>
              Keep it
            </button>
            <button type="submit" class={danger ? 'danger' : 'primary'} disabled={busy || (needsReason && !reason.trim())}>
              {label}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
