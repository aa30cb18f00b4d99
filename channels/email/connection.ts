/** The `smtp` connection type: the mail server an `email` step sends through. */
import { z } from 'zod';
import { defineConnectionType, PACING_SETTINGS, secretText } from '../connection';

export const smtpConnection = defineConnectionType({
  type: 'smtp',
  step: 'email',
  label: 'SMTP server',
  settings: {
    host: z.string().min(1).max(255).meta({ description: "the SMTP server's host name", examples: ['smtp.example.com'] }),
    port: z.int().min(1).max(65535).meta({ description: 'its port: 587 for STARTTLS, 465 with secure' }).default(587),
    secure: z.boolean().meta({ description: 'TLS from the start (port 465); otherwise STARTTLS when the server offers it' }).default(false),
    user: z.string().min(1).max(255).meta({ description: 'the user name to sign in with; left out: no sign-in' }).optional(),
    from: z.string().min(3).max(500).meta({ description: 'the sender address of every mail sent through it', examples: ['Alerts <alerts@example.com>'] }),
    ...PACING_SETTINGS,
  },
  secrets: { pass: secretText.meta({ description: "the user's password" }).optional() },
  check: (fields) => (fields.pass !== undefined && fields.user === undefined ? [{ field: 'user', message: 'is required with pass' }] : []),
  checkable: true,
});
