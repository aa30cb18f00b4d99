/**
 * Loopback stand-ins for the providers: an SMTP server that keeps what it
 * receives, and an HTTP server that records requests and answers as told.
 * `npm run dev` uses them when no real provider is configured; the tests and
 * benchmarks use them as real protocol peers.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string | undefined;
  to: string[];
  raw: string;
}

export interface SmtpSink {
  port: number;
  messages: ReceivedMail[];
  /** Recipients the server refuses with 550, as a real server refuses an unknown mailbox. */
  rejectRecipients: Set<string>;
  onMessage?: (mail: ReceivedMail) => void;
  /** Called for each recipient before the server answers it; the answer waits for what it returns (a test holds a send in flight so). */
  onRecipient?: (address: string) => void | Promise<void>;
  /**
   * Called when a message has been read whole, before it is taken; it is taken
   * once what this returns resolves, and then only if its client is still
   * connected (a test holds finished sends so while it kills a worker).
   */
  onArrival?: (mail: ReceivedMail) => void | Promise<void>;
  /** Takes a message only from a client still connected once what followed it is read ({@link afterPendingReads}). */
  deadClientGuard?: boolean;
  /** Messages read whole whose client had gone (while held, or under {@link deadClientGuard}). */
  dropped: ReceivedMail[];
  close(): Promise<void>;
}

/**
 * Runs `then` once the server has read what already followed a message on
 * its connection: at least 100 ms later, and after three more turns of the
 * event loop, each with its poll of the sockets. A client killed just after
 * it sent (a worker killed mid-send) has by then been seen to close, although
 * its message was read first: a busy server reads the message and the close
 * in different turns.
 */
function afterPendingReads(then: () => void): void {
  setTimeout(() => setImmediate(() => setImmediate(() => setImmediate(then))), 100);
}

export async function startSmtpSink(port = 0): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const rejectRecipients = new Set<string>();
  const sink: Partial<SmtpSink> = { messages, rejectRecipients, dropped: [] };
  // The sessions whose clients are connected: the set stays as small as the open connections.
  const connected = new Set<string>();
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    logger: false,
    onRcptTo(address, _session, callback) {
      if (rejectRecipients.has(address.address.toLowerCase())) {
        const err = Object.assign(new Error(`mailbox ${address.address} does not exist`), { responseCode: 550 });
        callback(err);
        return;
      }
      const hold = sink.onRecipient?.(address.address);
      if (hold) void hold.then(() => callback());
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail: ReceivedMail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        };
        const take = () => {
          messages.push(mail);
          sink.onMessage?.(mail);
          callback();
        };
        const hold = sink.onArrival?.(mail);
        if (!hold && !sink.deadClientGuard) return take();
        void Promise.resolve(hold).then(() =>
          afterPendingReads(() => {
            if (connected.has(session.id)) return take();
            sink.dropped!.push(mail);
            callback(new Error('the client has gone'));
          }),
        );
      });
    },
    onConnect(session, callback) {
      connected.add(session.id);
      callback();
    },
    onClose(session) {
      connected.delete(session.id);
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  // A client that vanishes mid-session (a worker killed while it sends) resets its connection:
  // the server reports that as an error, which is none of the sink's.
  server.on('error', () => undefined);
  const address = server.server.address() as AddressInfo;
  return Object.assign(sink, {
    port: address.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as SmtpSink;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
}

export interface HttpReply {
  status: number;
  /** Drop the connection without answering, after the request was read: an ambiguous outcome. */
  hangUp?: boolean;
  /** Sent as JSON, unless text or bytes. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface HttpSink {
  url: string;
  requests: RecordedRequest[];
  /** Decides each answer; the default is 200 with `{"ok": true}`. */
  respond: (req: RecordedRequest) => HttpReply;
  onRequest?: (req: RecordedRequest) => void;
  /**
   * Called for each request before it is recorded and answered; the request waits for what it
   * returns. One whose client left meanwhile is dropped unrecorded: the provider never took it.
   */
  onArrival?: (req: RecordedRequest) => void | Promise<void>;
  /** Records a request only from a client still connected once what followed it is read ({@link afterPendingReads}). */
  deadClientGuard?: boolean;
  /** Requests read whole whose client had gone (while held, or under {@link deadClientGuard}). */
  dropped: RecordedRequest[];
  close(): Promise<void>;
}

export async function startHttpSink(port = 0): Promise<HttpSink> {
  const requests: RecordedRequest[] = [];
  const sink: Partial<HttpSink> = { requests, dropped: [], respond: () => ({ status: 200, body: { ok: true } }) };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const recorded: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, json };
      const hold = sink.onArrival?.(recorded);
      if (!hold && !sink.deadClientGuard) {
        answer(recorded);
        return;
      }
      // A client that died while held, or just after it sent (its worker killed), has closed the
      // connection; the close is read on a later turn of the event loop than the request or the release.
      let gone = false;
      const closed = () => (gone = true);
      req.socket.once('close', closed);
      void Promise.resolve(hold).then(() =>
        afterPendingReads(() => {
          // A kept-alive connection carries many requests: each takes its listener off once decided.
          req.socket.off('close', closed);
          if (gone || req.socket.destroyed || req.socket.readableEnded) sink.dropped!.push(recorded);
          else answer(recorded);
        }),
      );
    });
    const answer = (recorded: RecordedRequest) => {
      requests.push(recorded);
      sink.onRequest?.(recorded);
      const reply = (sink.respond as HttpSink['respond'])(recorded);
      if (reply.hangUp) {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      const payload = reply.body;
      res.end(payload === undefined ? '' : typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload));
    };
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return Object.assign(sink, {
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  }) as HttpSink;
}

/** Answers like Slack's Web API `chat.postMessage`. */
export function slackApiReply(req: RecordedRequest): HttpReply {
  const params = new URLSearchParams(req.body);
  const channel = params.get('channel') ?? (req.json as { channel?: string } | undefined)?.channel ?? 'C000';
  return { status: 200, body: { ok: true, channel, ts: `${Date.now() / 1000}`, message: { text: params.get('text') } } };
}

/** Answers like Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`). */
export function twilioMessagesReply(req: RecordedRequest): HttpReply {
  const params = new URLSearchParams(req.body);
  const to = params.get('To') ?? '';
  if (!/^\+[1-9]\d{6,14}$/.test(to) || to.startsWith('+1555000')) {
    return { status: 400, body: { code: 21211, message: `The 'To' number ${to} is not a valid phone number.`, status: 400 } };
  }
  return {
    status: 201,
    body: { sid: `SM${Date.now().toString(16).padStart(32, '0')}`, status: 'queued', to, from: params.get('From'), body: params.get('Body') },
  };
}

/** An RFC 2047 encoded word: `=?charset?Q|B?text?=`. */
const ENCODED_WORD = /=\?([^?*\s]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=/g;

/** A received mail's subject as a person reads it: unfolded, encoded words decoded. */
export function mailSubject(raw: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const found = /^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(head);
  return found ? decodeHeaderWords(found[1]!.replace(/\r?\n(?=[ \t])/g, '')) : undefined;
}

/**
 * Decodes the encoded words of a header value (`=?UTF-8?Q?Welcome=2C_Ada?=`).
 * Adjacent words are joined before decoding, as RFC 2047 says, so a character
 * split between two words comes out whole; one in an unknown charset is left as written.
 */
export function decodeHeaderWords(value: string): string {
  let out = '';
  let at = 0;
  let run: { charset: string; bytes: Buffer[]; source: string } | undefined;
  const flush = () => {
    if (!run) return;
    try {
      out += new TextDecoder(run.charset).decode(Buffer.concat(run.bytes));
    } catch {
      out += run.source;
    }
    run = undefined;
  };
  for (const word of value.matchAll(ENCODED_WORD)) {
    const between = value.slice(at, word.index);
    // Only white space between two encoded words is dropped.
    if (!(run && /^[ \t]*$/.test(between))) {
      flush();
      out += between;
    }
    const [source, charset, encoding, text] = word as unknown as [string, string, string, string];
    const bytes =
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    if (run && run.charset.toLowerCase() === charset.toLowerCase()) {
      run.bytes.push(bytes);
      run.source += source;
    } else {
      flush();
      run = { charset, bytes: [bytes], source };
    }
    at = word.index + source.length;
  }
  flush();
  return out + value.slice(at);
}
