/** POSTing JSON to an incoming-webhook URL (Slack, Teams), classifying the answer. */
import { permanent, transient } from './failures';
import { SendFailure } from './delivery';

/** Network errors raised before any byte of the request left: nothing was delivered. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Posts `body` and returns the response text. The URL is a secret (it carries
 * the webhook's signature): failures name the service, never the address.
 */
export async function postJson(url: string, body: unknown, service: string, timeoutMs = 15_000): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new SendFailure(transient('ProviderUnavailable', `${service} could not be reached: ${code}`), !NOT_SENT.has(code));
  }
  const text = (await res.text()).slice(0, 2_000);
  if (res.ok) return text;
  if (res.status === 429) {
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new SendFailure(
      transient(
        'ProviderRateLimited',
        `${service} rate limit reached`,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
      ),
      false,
    );
  }
  if (res.status >= 500 || res.status === 408) {
    throw new SendFailure(transient('ProviderUnavailable', `${service} answered HTTP ${res.status}`), false);
  }
  const type = res.status === 401 || res.status === 403 ? 'ProviderAuthFailed' : 'ProviderRejected';
  throw new SendFailure(permanent(type, `${service} answered HTTP ${res.status}: ${text.slice(0, 200)}`), false);
}
