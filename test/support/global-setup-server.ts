/** The integration suite's core on the real Temporal server on Postgres, as production runs it (vitest project `integration-server`). */
import type { TestProject } from 'vitest/node';
import { setupWith } from './global-setup';

export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return setupWith(project, 'server');
}
