/**
 * The admin CLI's HTTP client: the gateway's API at `WFA_URL` with the key in
 * `WFA_API_KEY`, so the CLI works against any deployment it can reach. A
 * refusal becomes an {@link ApiError} carrying the problem's code, message and
 * bad fields; a gateway that cannot be reached, a {@link Unreachable}.
 */

export interface Problem {
  code: string;
  message: string;
  errors?: { path: string; message: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.message);
    this.name = 'ApiError';
  }
}

export class Unreachable extends Error {
  constructor(url: string, cause: unknown) {
    super(`cannot reach the gateway at ${url}: ${cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause)}`);
    this.name = 'Unreachable';
  }
}

export interface ApiClient {
  readonly url: string;
  get<T = any>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  post<T = any>(path: string, body?: unknown): Promise<{ status: number; body: T }>;
  put<T = any>(path: string, body: unknown): Promise<T>;
  delete(path: string): Promise<void>;
}

export function createApiClient(baseUrl: string, key: string | undefined): ApiClient {
  const url = baseUrl.replace(/\/+$/, '');
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new Unreachable(url, err);
    }
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (res.status >= 400) {
      // The gateway's problems are RFC 9457 problem+json: `code`, `detail`, and `errors` naming the bad fields.
      const problem: Problem =
        parsed && typeof parsed === 'object' && typeof parsed.code === 'string' && typeof parsed.detail === 'string'
          ? { code: parsed.code, message: parsed.detail, ...(Array.isArray(parsed.errors) ? { errors: parsed.errors } : {}) }
          : { code: `http_${res.status}`, message: `the gateway answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}` };
      throw new ApiError(res.status, problem);
    }
    return { status: res.status, body: parsed };
  }
  return {
    url,
    async get(path, query = {}) {
      const params = new URLSearchParams();
      for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
      const search = params.size > 0 ? `?${params}` : '';
      return (await call('GET', `${path}${search}`)).body;
    },
    post: (path, body) => call('POST', path, body ?? {}),
    async put(path, body) {
      return (await call('PUT', path, body)).body;
    },
    async delete(path) {
      await call('DELETE', path);
    },
  };
}
