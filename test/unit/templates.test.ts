/**
 * The template catalogue: every `templates/*.json` must hold a definition the
 * interpreter accepts, example trigger data its input schema accepts, and
 * expressions that only read declared inputs and render without error.
 */
import { Ajv2020 } from 'ajv/dist/2020';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sendEmailInput } from '../../channels/email/sender';
import { sendPagerDutyInput } from '../../channels/pagerduty/schema';
import { sendSlackInput } from '../../channels/slack/sender';
import { allSteps, parseDefinition, type Definition, type Step } from '../../src/shared/definition';
import { parseDuration } from '../../src/shared/duration';
import {
  compileExpression,
  evaluateExpression,
  heavyShape,
  isTruthy,
  renderDeep,
  templateExpressions,
  type ExpressionScope,
} from '../../src/shared/expressions';

const TEMPLATE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates');
const EXPECTED_COUNT = 16;

interface TemplateFile {
  template: { key: string; name: string; description: string; category: string };
  exampleTriggerData: Record<string, unknown>;
  definition: Record<string, unknown> & {
    key?: unknown;
    templateKey?: unknown;
    category?: unknown;
    inputSchema?: { properties?: Record<string, unknown> };
    steps?: unknown;
  };
}

const files = readdirSync(TEMPLATE_DIR)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((fileName) => ({
    fileName,
    file: JSON.parse(readFileSync(path.join(TEMPLATE_DIR, fileName), 'utf8')) as TemplateFile,
  }));

const ajv = new Ajv2020({ strict: true, allErrors: true });

/** Parses a template's definition, failing the test with every problem when it does not parse. */
function parsed(file: TemplateFile): Definition {
  const result = parseDefinition(file.definition);
  if (!result.ok) {
    const problems = result.problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('\n');
    expect.fail(`definition does not parse:\n${problems}`);
  }
  return result.definition;
}

/** Every expression of a definition: guards and conditions whole, other strings' `{{ … }}` placeholders. */
function expressionsOf(steps: Step[]): string[] {
  const found: string[] = [];
  const collect = (value: unknown) => {
    if (typeof value === 'string') found.push(...templateExpressions(value));
    else if (Array.isArray(value)) value.forEach(collect);
    else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  for (const step of allSteps(steps)) {
    if (step.if !== undefined) found.push(step.if);
    for (const [field, value] of Object.entries(step)) {
      if (field === 'if' || field === 'then' || field === 'else') continue;
      if (field === 'condition' && step.type === 'condition') found.push(step.condition);
      else collect(value);
    }
  }
  return found;
}

/**
 * Walks the steps as the interpreter does — guards, branches, variables and
 * outputs — with delays skipped and deliveries checked against the
 * activities' input schemas instead of sent.
 */
async function dryRun(definition: Definition, triggerData: Record<string, unknown>) {
  const scope: ExpressionScope = {
    input: triggerData,
    vars: {},
    steps: {},
    run: {
      executionId: 'dry-run',
      workflowId: 'dry-run',
      runId: 'dry-run',
      startedAt: '2026-01-01T00:00:00.000Z',
      attempt: 1,
      definition: { id: 'dry-run', key: definition.key, name: definition.name, version: 1 },
    },
  };
  const delivered: { type: 'email' | 'slack' | 'pagerduty'; id: string; payload: Record<string, unknown> }[] = [];
  const run = async (steps: Step[]): Promise<void> => {
    for (const step of steps) {
      if (step.if !== undefined && !isTruthy(await evaluateExpression(step.if, scope))) {
        scope.steps[step.id] = { output: undefined, status: 'SKIPPED' };
        continue;
      }
      let output: unknown;
      switch (step.type) {
        case 'set': {
          const values: Record<string, unknown> = {};
          for (const [name, value] of Object.entries(step.values)) values[name] = await renderDeep(value, scope);
          Object.assign(scope.vars, values);
          output = values;
          break;
        }
        case 'condition': {
          const matched = isTruthy(await evaluateExpression(step.condition, scope));
          await run(matched ? step.then : (step.else ?? []));
          output = { branch: matched ? 'then' : 'else' };
          break;
        }
        case 'delay':
          output = { waitedMs: step.duration === undefined ? 0 : parseDuration(step.duration) };
          break;
        case 'email': {
          const { to, cc, bcc, replyTo, subject, text, html } = step;
          const rendered = (await renderDeep({ to, cc, bcc, replyTo, subject, text, html }, scope)) as Record<string, unknown>;
          const payload = { deliveryKey: `dry-run:${step.id}`, ...rendered };
          const check = sendEmailInput.safeParse(payload);
          expect(check.success, `email step ${step.id}: ${check.error?.message}`).toBe(true);
          delivered.push({ type: 'email', id: step.id, payload });
          output = { messageId: `<${step.id}@dry-run>`, accepted: [] };
          break;
        }
        case 'slack': {
          const rendered = (await renderDeep({ channel: step.channel, text: step.text }, scope)) as Record<string, unknown>;
          const payload = { deliveryKey: `dry-run:${step.id}`, ...rendered };
          const check = sendSlackInput.safeParse(payload);
          expect(check.success, `slack step ${step.id}: ${check.error?.message}`).toBe(true);
          delivered.push({ type: 'slack', id: step.id, payload });
          output = { mode: 'webhook' };
          break;
        }
        case 'pagerduty': {
          const { action, dedupKey, summary, source, severity, customDetails } = step;
          const rendered = (await renderDeep({ action, dedupKey, summary, source, severity, customDetails }, scope)) as Record<string, unknown>;
          const payload = { deliveryKey: `dry-run:${step.id}`, ...rendered };
          const check = sendPagerDutyInput.safeParse(payload);
          expect(check.success, `pagerduty step ${step.id}: ${check.error?.message}`).toBe(true);
          delivered.push({ type: 'pagerduty', id: step.id, payload });
          output = { action, dedupKey: rendered.dedupKey ?? payload.deliveryKey, status: 'success' };
          break;
        }
      }
      scope.steps[step.id] = { output, status: 'COMPLETED' };
    }
  };
  await run(definition.steps);
  return delivered;
}

describe('template catalogue', () => {
  it(`holds exactly ${EXPECTED_COUNT} templates with distinct keys`, () => {
    expect(files.map((f) => f.fileName)).toHaveLength(EXPECTED_COUNT);
    expect(new Set(files.map((f) => f.file.template?.key)).size).toBe(EXPECTED_COUNT);
  });

  it('keeps the welcome email simple: one email, one Slack message, no waiting', () => {
    const welcome = files.find((f) => f.fileName === 'welcome-email.json');
    expect(welcome, 'templates/welcome-email.json is missing').toBeDefined();
    const steps = allSteps(parsed(welcome!.file).steps);
    expect(steps.map((s) => s.type).sort()).toEqual(['email', 'slack']);
  });

  it('has the incident alert page PagerDuty for a high or critical incident, one incident per incident id', async () => {
    const incident = files.find((f) => f.fileName === 'incident-alert.json');
    expect(incident, 'templates/incident-alert.json is missing').toBeDefined();
    const definition = parsed(incident!.file);
    const high = await dryRun(definition, incident!.file.exampleTriggerData);
    expect(high.map((d) => `${d.type}:${d.id}`)).toEqual(['slack:postAlert', 'pagerduty:pagePagerDuty', 'email:pageOnCall', 'slack:confirmEscalation']);
    expect(high[1]!.payload).toMatchObject({
      action: 'trigger',
      dedupKey: 'INC-2217',
      summary: '[HIGH] INC-2217: Checkout API error rate above 5%',
      source: 'checkout-api',
      severity: 'critical',
      customDetails: { severity: 'high', dashboardUrl: 'https://status.example.com/incidents/INC-2217' },
    });
    expect(high[3]!.payload.text).toBe(':rotating_light: INC-2217 escalated to PagerDuty and by email to oncall-payments@example.com.');
    const low = await dryRun(definition, { ...incident!.file.exampleTriggerData, severity: 'low' });
    expect(low.map((d) => d.type)).toEqual(['slack']);
  });

  describe.each(files)('$fileName', ({ fileName, file }) => {
    it('has a definition that parses', () => {
      parsed(file);
    });

    it('lines up file name, template and definition', () => {
      const key = fileName.replace(/\.json$/, '');
      expect(file.template.key).toBe(key);
      expect(file.definition.key).toBe(key);
      expect(file.definition.templateKey).toBe(key);
      expect(file.definition.category).toBe(file.template.category);
      expect(file.template.name, 'template name').toMatch(/\S/);
      expect(file.template.description, 'template description').toMatch(/\S/);
    });

    it('spells out every default, so the stored document equals the file', () => {
      expect(parsed(file)).toEqual(file.definition);
    });

    it('has example trigger data that satisfies the input schema', () => {
      expect(file.definition.inputSchema, 'definition.inputSchema').toBeTypeOf('object');
      const validate = ajv.compile(file.definition.inputSchema!);
      const valid = validate(file.exampleTriggerData);
      expect(valid, ajv.errorsText(validate.errors)).toBe(true);
    });

    it('reads only inputs the input schema declares', () => {
      const declared = Object.keys(file.definition.inputSchema?.properties ?? {});
      const used = new Set<string>();
      // The raw steps, so a definition that does not parse still gets this check.
      for (const expr of expressionsOf((file.definition.steps ?? []) as Step[])) {
        for (const match of expr.matchAll(/\binput\.([A-Za-z_][A-Za-z0-9_]*)/g)) used.add(match[1]!);
      }
      const undeclared = [...used].filter((name) => !declared.includes(name));
      expect(undeclared, `inputs used but not declared in inputSchema.properties`).toEqual([]);
    });

    it('has no expression heavy by its shape, so its runs evaluate every expression in the workflow thread', () => {
      const heavy = expressionsOf((file.definition.steps ?? []) as Step[]).filter((expr) => heavyShape(compileExpression(expr)));
      expect(heavy).toEqual([]);
    });

    it('renders against its example trigger data', async () => {
      const delivered = await dryRun(parsed(file), file.exampleTriggerData);
      expect(delivered.length, 'at least one email or Slack message').toBeGreaterThan(0);
      for (const { id, payload } of delivered) {
        for (const [field, value] of Object.entries(payload)) {
          if (typeof value === 'string') expect(value, `${id}.${field}`).not.toMatch(/\{\{|\}\}/);
        }
      }
    });
  });
});
