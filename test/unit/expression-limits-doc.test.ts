/** The user guide's table of expression limits says what the code enforces. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXPRESSION_PROCESS_HEAP_MB } from '../../activities/expression-process';
import { EXPRESSION_ACTIVITY_CPU_LIMIT_MS, EXPRESSION_ACTIVITY_STEPS, EXPRESSION_EVALUATIONS_HELD } from '../../activities/expressions';
import {
  CHARACTERS_PER_STEP,
  ITEMS_PER_STEP,
  MAX_EVALUATION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  MAX_SEQUENCE_LENGTH,
  MAX_STRING_LENGTH,
  MAX_TASK_STEPS,
  STRING_CHARACTERS_PER_STEP,
  WORKFLOW_EXPRESSION_STEPS,
} from '../../src/shared/expressions';

const guide = readFileSync(new URL('../../docs/USER_GUIDE.md', import.meta.url), 'utf8');
const table = guide.slice(guide.indexOf('### Limits'), guide.indexOf('### References to other steps'));

/** The number in the table row that starts with `label`, spaces between digit groups removed. */
function documented(label: string): number {
  const row = table.split('\n').find((line) => line.startsWith(`| ${label}`));
  expect(row, `a row "${label}" in the user guide's limits`).toBeDefined();
  return Number(row!.split('|')[2]!.replace(/[^\d]/g, ''));
}

describe("the user guide's expression limits", () => {
  it.each([
    ['length of one expression', MAX_EXPRESSION_LENGTH],
    ['evaluation steps of one expression in the workflow thread', WORKFLOW_EXPRESSION_STEPS],
    ['evaluation steps of all expressions in one workflow task', MAX_TASK_STEPS],
    ['evaluation steps of one expression evaluated outside the workflow thread', EXPRESSION_ACTIVITY_STEPS],
    ['CPU time one expression evaluated outside the workflow thread may use', EXPRESSION_ACTIVITY_CPU_LIMIT_MS],
    ['memory one expression evaluated outside the workflow thread may use', EXPRESSION_PROCESS_HEAP_MB],
    ['expressions a worker holds for evaluation outside the workflow thread at once', EXPRESSION_EVALUATIONS_HELD],
    ['nesting depth of evaluation', MAX_EVALUATION_DEPTH],
    ['length of a list an expression builds', MAX_SEQUENCE_LENGTH],
    ['length of a string an expression builds', MAX_STRING_LENGTH],
    ['list items built, per evaluation step charged', ITEMS_PER_STEP],
    ['characters built or scanned, per evaluation step charged', CHARACTERS_PER_STEP],
    ['characters `$string` writes, per evaluation step charged', STRING_CHARACTERS_PER_STEP],
  ])('%s is %d', (label, value) => {
    expect(documented(label)).toBe(value);
  });
});
