/**
 * `POST /api/connections/:name/test`: the cheapest real check each provider
 * allows, sending nothing to anyone. SMTP: `verify` (connect, TLS, log in);
 * Slack with a bot token: `auth.test`; Twilio: fetching the account. A Teams
 * webhook, a Slack or PagerDuty webhook and an HTTP API cannot be checked
 * without posting to them: the answer says so rather than pretending.
 */
import { WebClient } from '@slack/web-api';
import nodemailer from 'nodemailer';
import twilio from 'twilio';
import type { ConnectionFields } from '../../channels/connections';
import { RedirectingRequestClient } from '../../channels/sms/sender';
import type { AnyOpenedConnection } from './resolver';

export interface ConnectionCheck {
  /** Whether a check was made at all. */
  checked: boolean;
  /** Whether it passed; null when nothing was checked. */
  ok: boolean | null;
  /** What was done and what it found, never a secret. */
  detail: string;
}

const TIMEOUT_MS = 10_000;

export async function checkConnection(connection: AnyOpenedConnection): Promise<ConnectionCheck> {
  try {
    switch (connection.type) {
      case 'smtp':
        return await checkSmtp(connection.fields);
      case 'slack':
        return await checkSlack(connection.fields);
      case 'twilio':
        return await checkTwilio(connection.fields);
      case 'teams':
        return { checked: false, ok: null, detail: 'a Teams webhook cannot be checked without posting a message to its channel' };
      case 'pagerduty':
        return { checked: false, ok: null, detail: 'PagerDuty Events API v2 cannot check a routing key without sending an event' };
      case 'http':
        return { checked: false, ok: null, detail: 'an HTTP API connection has no standard check: run a step that calls an endpoint of the API' };
    }
  } catch (err) {
    return { checked: true, ok: false, detail: (err as Error).message.slice(0, 500) };
  }
}

async function checkSmtp(fields: ConnectionFields<'smtp'>): Promise<ConnectionCheck> {
  const transport = nodemailer.createTransport({
    host: fields.host,
    port: fields.port,
    secure: fields.secure,
    auth: fields.user ? { user: fields.user, pass: fields.pass ?? '' } : undefined,
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
  });
  try {
    await transport.verify();
  } finally {
    transport.close();
  }
  return { checked: true, ok: true, detail: `${fields.host}:${fields.port} accepted the connection${fields.user ? ` and the login of ${fields.user}` : ''}` };
}

async function checkSlack(fields: ConnectionFields<'slack'>): Promise<ConnectionCheck> {
  if (!fields.botToken) return { checked: false, ok: null, detail: 'an incoming webhook cannot be checked without posting a message to its channel' };
  const client = new WebClient(fields.botToken, {
    ...(fields.apiUrl ? { slackApiUrl: fields.apiUrl } : {}),
    retryConfig: { retries: 0 },
    timeout: TIMEOUT_MS,
  });
  const res = await client.auth.test();
  return { checked: true, ok: true, detail: `auth.test: the token is the bot of workspace "${String(res.team ?? '?')}" as ${String(res.user ?? '?')}` };
}

async function checkTwilio(fields: ConnectionFields<'twilio'>): Promise<ConnectionCheck> {
  const client = twilio(fields.accountSid, fields.authToken, {
    autoRetry: false,
    timeout: TIMEOUT_MS,
    ...(fields.apiUrl ? { httpClient: new RedirectingRequestClient(fields.apiUrl) } : {}),
  });
  const account = await client.api.v2010.accounts(fields.accountSid).fetch();
  return { checked: true, ok: account.status === 'active', detail: `account ${fields.accountSid} is ${account.status}` };
}
