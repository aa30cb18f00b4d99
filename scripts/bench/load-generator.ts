/**
 * The HTTP load generator, run in a child process so that making the load
 * costs nothing in the process being measured: `startLoadGenerator()` forks
 * this file; each job it is sent is a fixed number of requests at a fixed
 * concurrency over keep-alive connections, and it answers every request's
 * latency (sub-millisecond, from the clock of this process) and the wall time.
 *
 * Written rather than taken from autocannon: autocannon's histogram has 1 ms
 * resolution and no p95, and the gateway's added latency is a few milliseconds.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export interface LoadJob {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  /** Requests in total. */
  requests: number;
  /** Requests in flight at once, each on its own connection. */
  concurrency: number;
  /** The status every request must answer with; any other counts as an error. */
  expectStatus: number;
}

export interface LoadResult {
  /** Latency of each request answered with the expected status, in milliseconds. */
  samples: number[];
  /** First request sent → last answer received. */
  seconds: number;
  errors: number;
  /** The first unexpected answer (status and start of the body), to say what went wrong. */
  firstError?: string | undefined;
}

export interface LoadGenerator {
  run(job: LoadJob): Promise<LoadResult>;
  close(): Promise<void>;
}

/** Forks the generator; it runs jobs one at a time. */
export function startLoadGenerator(): LoadGenerator {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let pending: { resolve: (r: LoadResult) => void; reject: (e: Error) => void } | undefined;
  child.on('message', (message: LoadResult) => {
    const p = pending;
    pending = undefined;
    p?.resolve(message);
  });
  child.on('exit', (code) => {
    pending?.reject(new Error(`the load generator exited (code ${code}) during a job`));
    pending = undefined;
  });
  return {
    run(job) {
      if (pending) return Promise.reject(new Error('the load generator runs one job at a time'));
      return new Promise<LoadResult>((resolve, reject) => {
        pending = { resolve, reject };
        child.send(job);
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.disconnect();
      });
    },
  };
}

async function runJob(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const url = new URL(job.url);
  const body = Buffer.from(job.body);
  const headers = { ...job.headers, 'content-length': String(body.length) };
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;

  const once = () =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname + url.search, method: job.method, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const lane = async () => {
    while (issued < job.requests) {
      issued += 1;
      const t0 = performance.now();
      try {
        const { status, text } = await once();
        const ms = performance.now() - t0;
        if (status === job.expectStatus) samples.push(ms);
        else {
          errors += 1;
          firstError ??= `HTTP ${status}: ${text.slice(0, 300)}`;
        }
      } catch (err) {
        errors += 1;
        firstError ??= String(err);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { samples, seconds, errors, firstError };
}

// Forked: serve jobs until the parent disconnects.
if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  process.on('message', (job: LoadJob) => {
    void runJob(job).then((result) => process.send?.(result));
  });
  process.on('disconnect', () => process.exit(0));
}
