import { useState } from 'preact/hooks';
import { type OidcSettings, startSignIn } from '../oidc';
import { Problem } from '../ui';

/** Asks for an API key (or a token), or sends the browser to the OIDC provider where one is configured; either stays in this tab only. */
export function SignIn({ onSignIn, problem, oidc }: { onSignIn(key: string): void; problem: string | null; oidc: OidcSettings | null }) {
  const [key, setKey] = useState('');
  return (
    <main class="sign-in">
      <h1>Workflow automation</h1>
      {oidc && <Problem text={problem ?? undefined} />}
      {oidc && (
        <div class="sso">
          <button type="button" class="primary" onClick={() => void startSignIn(oidc)}>
            Sign in with your organization's account
          </button>
          <p class="hint">or with an API key:</p>
        </div>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) onSignIn(key.trim());
        }}
      >
        <label for="api-key">
          API key
          <input id="api-key" type="password" autoComplete="off" spellcheck={false} value={key} onInput={(e) => setKey(e.currentTarget.value)} required />
        </label>
        <p class="hint">The console acts with this key's role. It is kept in this browser tab only, until you sign out or close it.</p>
        {!oidc && <Problem text={problem ?? undefined} />}
        <button type="submit" class={oidc ? undefined : 'primary'}>
          Sign in
        </button>
      </form>
    </main>
  );
}
