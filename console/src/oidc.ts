/**
 * Signing in through the organization's OpenID Connect provider: the
 * authorization code flow with PKCE, as a public client. The browser goes to
 * the provider, comes back to /console/ with a code, and trades it (with the
 * verifier only this tab holds) for an access token, which the API checks
 * like any OIDC bearer token.
 */
export interface OidcSettings {
  authorizationUrl: string;
  tokenUrl: string;
  clientId: string;
  scope: string;
}

const PENDING = 'wfa.console.oidc';

const redirectUri = () => `${location.origin}/console/`;

function randomText(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Sends the browser to the provider; it comes back to /console/ with a code. */
export async function startSignIn(settings: OidcSettings): Promise<void> {
  const verifier = randomText();
  const state = randomText(16);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const url = new URL(settings.authorizationUrl);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: redirectUri(),
    scope: settings.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/**
 * When the page is the provider's redirect back (a `code` and `state` in its
 * query), the access token the code trades for; undefined when it is not.
 * Throws with the provider's reason when the sign-in failed.
 */
export async function finishSignIn(settings: OidcSettings | null): Promise<{ token: string; hash: string } | undefined> {
  const query = new URLSearchParams(location.search);
  if (!query.has('code') && !query.has('error')) return undefined;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as { verifier: string; state: string; hash: string } | null;
  sessionStorage.removeItem(PENDING);
  // The code leaves the address bar (and the history) whatever happens next.
  history.replaceState(null, '', `/console/${pending?.hash ?? ''}`);
  if (query.has('error')) throw new Error(`the identity provider refused the sign-in: ${query.get('error_description') ?? query.get('error')}`);
  if (!settings) throw new Error('this gateway has no OIDC sign-in configured');
  if (!pending || pending.state !== query.get('state')) throw new Error('the sign-in came back without the state this tab sent; sign in again');
  const res = await fetch(settings.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: query.get('code')!,
      redirect_uri: redirectUri(),
      client_id: settings.clientId,
      code_verifier: pending.verifier,
    }),
    credentials: 'omit',
  }).catch(() => undefined);
  if (!res) throw new Error('the identity provider could not be reached to finish the sign-in');
  const answer = (await res.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !answer.access_token) {
    throw new Error(`the identity provider did not give a token: ${answer.error_description ?? answer.error ?? `HTTP ${res.status}`}`);
  }
  return { token: answer.access_token, hash: pending.hash };
}
