/**
 * Connections: every named credential with its type, settings, where it is
 * used, and of its secrets only whether each is set, with a fingerprint.
 * Admins create, update (a new version: a secret left blank keeps its
 * value, an optional one can be cleared), test and delete them; the form's
 * fields are the type's, as `/api/connection-types` lists them.
 */
import { useRef, useState } from 'preact/hooks';
import { roleAtLeast } from '../../../src/shared/roles';
import { type Api, ApiProblem, type Connection, type ConnectionCheck, type ConnectionTypeInfo, type DeliveriesReport } from '../api';
import type { PageProps } from '../main';
import { deliveriesByConnection } from '../reports';
import { describe, Problem, Section, useLoad, when } from '../ui';

type Field = ConnectionTypeInfo['settings'][number];

export function ConnectionsPage({ api, session }: PageProps) {
  const list = useLoad(() => api.get<{ items: Connection[] }>('/api/connections'), []);
  const types = useLoad(() => api.get<{ items: ConnectionTypeInfo[] }>('/api/connection-types'), []);
  const report = useLoad(() => api.get<DeliveriesReport>('/api/reports/deliveries', { by: 'connection' }), []);
  const deliveries = deliveriesByConnection(report.data?.items ?? []);
  const admin = roleAtLeast(session.role, 'admin');
  // The connection being edited, or 'new'.
  const [editing, setEditing] = useState<Connection | 'new' | null>(null);
  const [checks, setChecks] = useState<Record<string, ConnectionCheck | string>>({});
  const test = async (name: string) => {
    setChecks((c) => ({ ...c, [name]: 'checking…' }));
    try {
      const check = await api.post<ConnectionCheck>(`/api/connections/${encodeURIComponent(name)}/test`);
      setChecks((c) => ({ ...c, [name]: check }));
    } catch (err) {
      setChecks((c) => ({ ...c, [name]: describe(err) }));
    }
  };
  const typeInfo = (type: string) => types.data?.items.find((t) => t.type === type);
  return (
    <>
      <h1>Connections</h1>
      <p class="hint">
        Named credentials that steps use with <code>"connection": "&lt;name&gt;"</code>. Secrets are never shown: only whether each is set, and a
        fingerprint to tell values apart.
      </p>
      <Problem text={list.problem ?? types.problem} />
      {admin && editing === null && (
        <div class="actions">
          <button type="button" class="primary" onClick={() => setEditing('new')}>
            New connection
          </button>
        </div>
      )}
      {admin && editing !== null && types.data && (
        <ConnectionForm
          api={api}
          types={types.data.items}
          editing={editing === 'new' ? undefined : editing}
          onDone={() => {
            setEditing(null);
            list.reload();
          }}
        />
      )}
      <table class="connections">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Settings</th>
            <th scope="col">Secrets</th>
            <th scope="col">Used by</th>
            <th scope="col">Deliveries, 30 days</th>
            <th scope="col">Version</th>
            {admin && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {(list.data?.items ?? []).map((c) => (
            <tr key={c.name} data-connection={c.name}>
              <td>
                <code>{c.name}</code>
              </td>
              <td>
                {c.type}
                {typeInfo(c.type) && <span class="hint"> {typeInfo(c.type)!.label}</span>}
              </td>
              <td>
                <dl class="fields">
                  {inTypeOrder(c.settings, typeInfo(c.type)?.settings).map(([field, value]) => (
                    <>
                      <dt>{field}</dt>
                      <dd>{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
                    </>
                  ))}
                </dl>
              </td>
              <td>
                <dl class="fields">
                  {Object.entries(c.secrets).map(([field, state]) => (
                    <>
                      <dt>{field}</dt>
                      <dd>{state.set ? <span title="fingerprint">set · {state.fingerprint}</span> : <span class="hint">not set</span>}</dd>
                    </>
                  ))}
                </dl>
              </td>
              <td>
                {c.usedBy.length === 0 ? (
                  <span class="hint">no definition</span>
                ) : (
                  <ul class="plain">
                    {c.usedBy.map((u) => (
                      <li>
                        <a href={`#/definitions/${encodeURIComponent(u.definition)}`}>{u.definition}</a> v{u.version} <span class="hint">{u.step}</span>
                      </li>
                    ))}
                  </ul>
                )}
              </td>
              <td>
                {Object.entries(deliveries.get(c.name) ?? {})
                  .map(([status, n]) => `${n} ${status.toLowerCase()}`)
                  .join(' · ') || <span class="hint">none</span>}
              </td>
              <td>
                {c.version}
                <span class="hint">
                  {' '}
                  {when(c.updatedAt)} by {c.updatedBy}
                </span>
              </td>
              {admin && (
                <td>
                  <div class="buttons">
                    <button type="button" onClick={() => setEditing(c)}>
                      Edit
                    </button>
                    <button type="button" onClick={() => void test(c.name)}>
                      Test
                    </button>
                    <DeleteButton api={api} connection={c} onDeleted={list.reload} />
                  </div>
                  <CheckResult check={checks[c.name]} />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.items.length === 0 && <p class="hint">No connection yet: steps use their channels' settings from the environment.</p>}
    </>
  );
}

/** A connection's settings in its type's order (the database keeps JSON keys in an order of its own), then any the type no longer declares. */
function inTypeOrder(settings: Record<string, unknown>, fields: Field[] | undefined): [string, unknown][] {
  const order = (fields ?? []).map((f) => f.name);
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
  return Object.entries(settings).sort(([a], [b]) => rank(a) - rank(b));
}

function CheckResult({ check }: { check: ConnectionCheck | string | undefined }) {
  if (check === undefined) return null;
  if (typeof check === 'string') return <p role="status">{check}</p>;
  const verdict = !check.checked ? 'not checked' : check.ok ? 'check passed' : 'check failed';
  return (
    <p role="status" class={check.checked && !check.ok ? 'error-text' : undefined}>
      {verdict} (version {check.version}): {check.detail}
    </p>
  );
}

/**
 * Deletes after asking; a connection that definitions name is refused (409,
 * listing them), and then the dialog offers to delete it anyway.
 */
function DeleteButton({ api, connection, onDeleted }: { api: Api; connection: Connection; onDeleted(): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [problem, setProblem] = useState<string>();
  const [inUse, setInUse] = useState(false);
  const [busy, setBusy] = useState(false);
  const remove = async (force: boolean) => {
    setBusy(true);
    try {
      await api.del(`/api/connections/${encodeURIComponent(connection.name)}`, force ? { force: 'true' } : {});
      dialog.current?.close();
      onDeleted();
    } catch (err) {
      setInUse(err instanceof ApiProblem && err.code === 'connection_in_use');
      setProblem(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const title = `Delete connection ${connection.name}?`;
  return (
    <>
      <button
        type="button"
        class="danger"
        onClick={() => {
          setProblem(undefined);
          setInUse(false);
          dialog.current?.showModal();
        }}
      >
        Delete
      </button>
      <dialog ref={dialog} aria-label={title}>
        <h3>{title}</h3>
        <p>Steps that name it will fail with ChannelNotConfigured. The deletion is recorded in the audit log.</p>
        <Problem text={problem} />
        <div class="buttons">
          <button type="button" onClick={() => dialog.current?.close()}>
            Keep it
          </button>
          {inUse ? (
            <button type="button" class="danger" disabled={busy} onClick={() => void remove(true)}>
              Delete anyway
            </button>
          ) : (
            <button type="button" class="danger" disabled={busy} onClick={() => void remove(false)}>
              Delete
            </button>
          )}
        </div>
      </dialog>
    </>
  );
}

/** The value a form field holds, as the API takes it; undefined when left empty. */
function valueOf(field: Field, form: FormData): unknown {
  if (field.kind === 'boolean') return form.get(field.name) === 'on';
  const raw = String(form.get(field.name) ?? '').trim();
  if (raw === '') return undefined;
  if (field.kind === 'integer' || field.kind === 'number') return Number(raw);
  if (field.kind === 'json') {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      throw new Error(`${field.name} is not JSON`);
    }
  }
  return raw;
}

/** The form's checkbox that clears a secret on update, as the API does with `null`. */
const clearName = (field: string) => `clear:${field}`;

/**
 * Creates a connection, or updates one as a new version: the settings as
 * the form holds them replace the old; a secret typed replaces its value,
 * one left blank keeps it, one marked to clear is sent as `null`.
 */
function ConnectionForm({ api, types, editing, onDone }: { api: Api; types: ConnectionTypeInfo[]; editing: Connection | undefined; onDone(): void }) {
  const [type, setType] = useState(editing?.type ?? types[0]!.type);
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const info = types.find((t) => t.type === type)!;
  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(undefined);
    const form = new FormData(event.currentTarget as HTMLFormElement);
    let settings: Record<string, unknown>;
    let secrets: Record<string, unknown>;
    try {
      const pick = (fields: Field[]) => Object.fromEntries(fields.map((f) => [f.name, valueOf(f, form)]).filter(([, v]) => v !== undefined));
      settings = pick(info.settings);
      secrets = pick(info.secrets);
      if (editing) for (const f of info.secrets) if (form.get(clearName(f.name)) === 'on') secrets[f.name] = null;
    } catch (err) {
      setProblem(describe(err));
      return;
    }
    setBusy(true);
    try {
      if (editing) await api.put(`/api/connections/${encodeURIComponent(editing.name)}`, { settings, secrets });
      else await api.post('/api/connections', { name: String(form.get('name') ?? '').trim(), type, settings, secrets });
      onDone();
    } catch (err) {
      setProblem(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const title = editing ? `Update ${editing.name}` : 'New connection';
  return (
    <Section title={title}>
      <form class="start connection-form" aria-label={title} onSubmit={(e) => void submit(e)}>
        {editing ? (
          <p class="hint">
            {editing.type} · version {editing.version}: saving makes version {editing.version + 1}. A secret left blank keeps its value; an optional one
            can be cleared.
          </p>
        ) : (
          <>
            <label>
              Name
              <input name="name" required placeholder="ops-teams" />
              <span class="hint">lower-case letters, digits, dots, dashes and underscores</span>
            </label>
            <label>
              Type
              <select name="type" value={type} onChange={(e) => setType(e.currentTarget.value as ConnectionTypeInfo['type'])}>
                {types.map((t) => (
                  <option value={t.type}>
                    {t.type} ({t.label}, for {t.step} steps)
                  </option>
                ))}
              </select>
            </label>
          </>
        )}
        <fieldset key={type}>
          <legend>Settings</legend>
          {info.settings.map((f) => (
            <FieldInput field={f} current={editing?.settings[f.name]} />
          ))}
          {info.settings.length === 0 && <p class="hint">None.</p>}
        </fieldset>
        <fieldset key={`${type}-secrets`}>
          <legend>Secrets (write-only)</legend>
          {info.secrets.map((f) => (
            <SecretInput field={f} state={editing?.secrets[f.name]} />
          ))}
        </fieldset>
        <Problem text={problem} />
        <div class="buttons">
          <button type="button" onClick={onDone}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {editing ? 'Save a new version' : 'Create'}
          </button>
        </div>
      </form>
    </Section>
  );
}

/** The id of a field's hint, which its input is described by; none without a description. */
const hintId = (field: Field) => (field.description ? `field-hint-${field.name}` : undefined);

/**
 * What a field means, from the connection type's declaration (its
 * description in the API's connection types), beside its label rather
 * than in it: it describes the input (aria-describedby), it does not name it.
 */
function Hint({ field }: { field: Field }) {
  if (!field.description) return null;
  return (
    <span class="hint" id={hintId(field)}>
      {field.description}
    </span>
  );
}

function FieldInput({ field, current }: { field: Field; current: unknown }) {
  const label = `${field.name}${field.required ? ' (required)' : ''}`;
  const shown = current ?? field.default;
  if (field.kind === 'boolean') {
    return (
      <div class="field">
        <label class="check">
          <input type="checkbox" name={field.name} defaultChecked={shown === true} aria-describedby={hintId(field)} />
          {label}
        </label>
        <Hint field={field} />
      </div>
    );
  }
  if (field.kind === 'enum') {
    return (
      <div class="field">
        <label>
          {label}
          <select name={field.name} required={field.required} aria-describedby={hintId(field)}>
            {!field.required && <option value="">–</option>}
            {(field.options ?? []).map((o) => (
              <option value={o} selected={o === shown}>
                {o}
              </option>
            ))}
          </select>
        </label>
        <Hint field={field} />
      </div>
    );
  }
  const text = shown === undefined ? '' : field.kind === 'json' ? JSON.stringify(shown) : String(shown);
  const example = field.example === undefined ? undefined : field.kind === 'json' ? JSON.stringify(field.example) : String(field.example);
  return (
    <div class="field">
      <label>
        {label}
        {field.kind === 'integer' || field.kind === 'number' ? (
          <input
            name={field.name}
            type="number"
            step={field.kind === 'integer' ? 1 : 'any'}
            required={field.required}
            defaultValue={text}
            placeholder={example}
            aria-describedby={hintId(field)}
          />
        ) : (
          <input
            name={field.name}
            type="text"
            required={field.required}
            defaultValue={text}
            placeholder={example}
            aria-describedby={hintId(field)}
          />
        )}
      </label>
      <Hint field={field} />
    </div>
  );
}

/**
 * A secret's input, never filled in. On update, one that is set is kept when
 * left blank; an optional one that is set can be cleared instead (its input
 * then disabled, so nothing typed is sent).
 */
function SecretInput({ field, state }: { field: Field; state: Connection['secrets'][string] | undefined }) {
  const keeps = state?.set === true;
  const [clearing, setClearing] = useState(false);
  const placeholder = clearing
    ? 'cleared when saved'
    : keeps
      ? `set (${state.fingerprint}): leave blank to keep`
      : field.kind === 'json'
        ? 'JSON, e.g. {"X-Token": "…"}'
        : '';
  return (
    <>
      <label>
        {field.name}
        {field.required && !keeps ? ' (required)' : ''}
        <input
          name={field.name}
          type="password"
          autoComplete="off"
          required={field.required && !keeps}
          disabled={clearing}
          placeholder={placeholder}
          aria-describedby={hintId(field)}
        />
      </label>
      <Hint field={field} />
      {keeps && !field.required && (
        <label class="check">
          <input type="checkbox" name={clearName(field.name)} checked={clearing} onChange={(e) => setClearing(e.currentTarget.checked)} />
          Clear {field.name}
        </label>
      )}
    </>
  );
}
