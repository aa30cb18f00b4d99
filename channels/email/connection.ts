/** The `smtp` connection type: the mail server an `email` step sends through. */
import { z } from 'zod';
import { defineConnectionType, PACING_SETTINGS, secretText } from '../connection';

export const smtpConnection = defineConnectionType({
  type: 'smtp',
  step: 'email',
  label: 'SMTP server',
  settings: {
    host: z.string().min(1).max(255),
    port: z.int().min(1).max(65535).default(587),
    /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
    secure: z.boolean().default(false),
    user: z.string().min(1).max(255).optional(),
    /** The sender address, e.g. `Alerts <alerts@example.com>`. */
    from: z.string().min(3).max(500),
    ...PACING_SETTINGS,
  },
  secrets: { pass: secretText.optional() },
  check: (fields) => (fields.pass !== undefined && fields.user === undefined ? [{ field: 'user', message: 'is required with pass' }] : []),
  checkable: true,
});
