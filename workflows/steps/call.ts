/**
 * `call`: runs another definition as a child workflow — the same interpreter,
 * with the child's own mirror row — and, unless `wait` is false, takes its
 * result as the step's output.
 */
import * as wf from '@temporalio/workflow';
import type { CallStep } from '../../src/shared/definition';
import type { RunInput, RunResult } from '../../src/shared/run';
import {
  Category,
  DefinitionId,
  DefinitionKey,
  DefinitionVersion,
  TemplateKey,
  TriggerType,
} from '../../src/shared/search-attributes';
import { childWorkflowType } from '../generations';
import type { Ports, StepHandler } from './types';

/** What a `call` step uses of the run. */
export type CallPorts = Ports<'input' | 'render' | 'flush' | 'activities'>;

export const runCall: StepHandler<CallStep, CallPorts> = async (step, path, ctx) => {
  const triggerData = (await ctx.render(step.input ?? {}, step)) as Record<string, unknown>;
  const workflowId = `${step.definition}-${wf.workflowInfo().workflowId}:${path}`;
  await ctx.flush();
  const prepared = await ctx
    .activities({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 }, summary: `${step.id}: prepare call of ${step.definition}` })
    .prepareCall({ definitionKey: step.definition, workflowId, triggerData });
  const document = prepared.definition.document;
  const input: RunInput = {
    executionId: prepared.executionId,
    definition: prepared.definition,
    triggerType: 'call',
    triggerData,
    settings: ctx.input.settings,
    env: ctx.input.env,
  };
  const options = {
    workflowId,
    args: [input] as [RunInput],
    typedSearchAttributes: [
      { key: DefinitionId, value: prepared.definition.id },
      { key: DefinitionKey, value: document.key },
      { key: DefinitionVersion, value: prepared.definition.version },
      { key: Category, value: prepared.category },
      { key: TriggerType, value: 'call' },
      ...(prepared.templateKey ? [{ key: TemplateKey, value: prepared.templateKey }] : []),
    ],
    memo: { definitionName: document.name, definitionKey: document.key, definitionVersion: prepared.definition.version, executionId: prepared.executionId },
    staticSummary: `${document.name} (v${prepared.definition.version}), called by step ${step.id}`,
  };
  if (step.wait === false) {
    const child = await wf.startChild<(input: RunInput) => Promise<RunResult>>(childWorkflowType(), {
      ...options,
      parentClosePolicy: 'ABANDON',
    });
    return { executionId: prepared.executionId, workflowId: child.workflowId, waited: false };
  }
  const result = await wf.executeChild<(input: RunInput) => Promise<RunResult>>(childWorkflowType(), options);
  return { executionId: prepared.executionId, workflowId, waited: true, vars: result.vars, output: result.output };
};
