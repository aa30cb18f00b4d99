import { useState } from 'preact/hooks';
import { Problem } from '../ui';

/** Asks for an API key; the key stays in this tab's session storage only. */
export function SignIn({ onSignIn, problem }: { onSignIn(key: string): void; problem: string | null }) {
  const [key, setKey] = useState('');
  return (
    <main class="sign-in">
      <h1>Workflow automation</h1>
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
        <Problem text={problem ?? undefined} />
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}
