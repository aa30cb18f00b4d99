/**
 * The console: sign in with an API key, then the overview, definitions, runs,
 * approvals and connections, acting with the key's role. Controls the role may not use
 * are not shown. Routes live in the URL's hash, so the gateway serves one
 * page and a reload or a shared link lands where it was.
 */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { type Api, ApiProblem, createApi, type Session } from './api';
import { finishSignIn, type OidcSettings } from './oidc';
import { ApprovalsPage } from './pages/approvals';
import { ConnectionsPage } from './pages/connections';
import { DefinitionPage, DefinitionsPage } from './pages/definitions';
import { DeploymentsPage } from './pages/deployments';
import { OverviewPage } from './pages/overview';
import { BatchPage, RecoveryPage } from './pages/recovery';
import { RunPage } from './pages/run';
import { RunsPage } from './pages/runs';
import { SignIn } from './pages/sign-in';
import './style.css';

const KEY_STORAGE = 'wfa.console.key';

export interface PageProps {
  api: Api;
  session: Session;
  /** The route's parameters, e.g. a run's id. */
  params: string[];
  query: URLSearchParams;
}

/** The hash route: `#/runs/<id>?x=1` → ['runs', '<id>'] and its query. */
function parseHash(hash: string): { path: string[]; query: URLSearchParams } {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return parseHash(hash);
}

const NAV = [
  { href: '#/', label: 'Overview', match: '' },
  { href: '#/definitions', label: 'Definitions', match: 'definitions' },
  { href: '#/runs', label: 'Runs', match: 'runs' },
  { href: '#/approvals', label: 'Approvals', match: 'approvals' },
  { href: '#/connections', label: 'Connections', match: 'connections' },
  { href: '#/deployments', label: 'Deployments', match: 'deployments', admin: true },
];

function App() {
  const [key, setKey] = useState<string | null>(() => sessionStorage.getItem(KEY_STORAGE));
  const [session, setSession] = useState<Session | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [oidc, setOidc] = useState<OidcSettings | null | undefined>(undefined);
  const route = useHash();

  // What sign-in the gateway offers; and, coming back from the provider, the token for the code.
  useEffect(() => {
    void fetch('/console/settings.json')
      .then((r) => r.json() as Promise<{ oidc: OidcSettings | null }>)
      .catch(() => ({ oidc: null }))
      .then(async ({ oidc: settings }) => {
        setOidc(settings);
        try {
          const signedIn = await finishSignIn(settings);
          if (signedIn) {
            sessionStorage.setItem(KEY_STORAGE, signedIn.token);
            setKey(signedIn.token);
            // Back at the page the sign-in left from (the address changed without a hashchange).
            dispatchEvent(new HashChangeEvent('hashchange'));
          }
        } catch (err) {
          setProblem(err instanceof Error ? err.message : String(err));
        }
      });
  }, []);
  const signOut = () => {
    sessionStorage.removeItem(KEY_STORAGE);
    setKey(null);
    setSession(null);
  };
  const api = useMemo(() => (key ? createApi(key, signOut) : null), [key]);

  useEffect(() => {
    if (!api) return;
    api
      .get<Session>('/api/session')
      .then(setSession)
      .catch((err: unknown) => {
        setProblem(err instanceof ApiProblem ? err.message : String(err));
        signOut();
      });
  }, [api]);

  if (!key || !api) {
    return (
      <SignIn
        oidc={oidc ?? null}
        problem={problem}
        onSignIn={(k) => {
          sessionStorage.setItem(KEY_STORAGE, k);
          setProblem(null);
          setKey(k);
        }}
      />
    );
  }
  if (!session) return <p class="loading" role="status">Signing in…</p>;

  const [section = '', ...params] = route.path;
  const props: PageProps = { api, session, params, query: route.query };
  let page;
  if (section === '') page = <OverviewPage {...props} />;
  else if (section === 'definitions' && params.length) page = <DefinitionPage {...props} />;
  else if (section === 'definitions') page = <DefinitionsPage {...props} />;
  else if (section === 'runs' && params.length) page = <RunPage {...props} />;
  else if (section === 'runs') page = <RunsPage {...props} />;
  else if (section === 'approvals') page = <ApprovalsPage {...props} />;
  else if (section === 'connections') page = <ConnectionsPage {...props} />;
  else if (section === 'deployments') page = <DeploymentsPage {...props} />;
  else if (section === 'recovery') page = <RecoveryPage {...props} />;
  else if (section === 'batches' && params.length) page = <BatchPage {...props} />;
  else page = <p role="alert">No such page. <a href="#/">Back to the overview</a></p>;

  return (
    <>
      <header class="top">
        <a class="brand" href="#/">Workflow automation</a>
        <nav aria-label="Sections">
          {NAV.filter((n) => !n.admin || session.role === 'admin').map((n) => (
            <a href={n.href} aria-current={section === n.match ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <span class="who">
          {session.name} <span class={`role role-${session.role}`}>{session.role}</span>
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main">{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
