/** The subject `npm run dev`'s email catcher prints: decoded as nodemailer encodes it, not `=?UTF-8?Q?…?=`. */
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { decodeHeaderWords, mailSubject } from '../../scripts/lib/sinks';

async function rendered(subject: string): Promise<string> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: '\r\n' });
  const info = await transport.sendMail({ from: 'a@example.test', to: 'b@example.test', subject, text: 'Subject: not this one' });
  return (info.message as Buffer).toString('utf8');
}

describe('the subject of a caught mail', () => {
  it.each([
    ['plain ASCII', 'Welcome to Acme'],
    ['accents and a comma', 'Welcome, Ada — your café order'],
    ['emoji and CJK, long enough to fold over several encoded words', `Bienvenue 🎉 ${'注文を受け付けました '.repeat(6)}Ada Lovelace, déjà vu`],
  ])('reads as written: %s', async (_, subject) => {
    const raw = await rendered(subject);
    expect(mailSubject(raw)).toBe(subject);
  });

  it('decodes Q and B words, joins adjacent ones, keeps the text around them and words in unknown charsets', () => {
    expect(decodeHeaderWords('=?UTF-8?Q?Caf=C3=A9_au?= =?UTF-8?B?IGxhaXQ=?= now')).toBe('Café au lait now');
    expect(decodeHeaderWords('Re: =?ISO-8859-1?Q?d=E9j=E0?= vu')).toBe('Re: déjà vu');
    expect(decodeHeaderWords('=?x-unknown?Q?abc?=')).toBe('=?x-unknown?Q?abc?=');
    expect(mailSubject('From: a@b\r\n\r\nbody')).toBeUndefined();
  });
});
