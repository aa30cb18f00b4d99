/**
 * The custom search attributes that make every run findable in the Temporal
 * Web UI. Workflow-safe: the interpreter keeps `CurrentStep` up to date.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DefinitionId = defineSearchAttributeKey('DefinitionId', SearchAttributeType.KEYWORD);
export const DefinitionKey = defineSearchAttributeKey('DefinitionKey', SearchAttributeType.KEYWORD);
export const DefinitionVersion = defineSearchAttributeKey('DefinitionVersion', SearchAttributeType.INT);
export const TemplateKey = defineSearchAttributeKey('TemplateKey', SearchAttributeType.KEYWORD);
export const Category = defineSearchAttributeKey('Category', SearchAttributeType.KEYWORD);
export const TriggerType = defineSearchAttributeKey('TriggerType', SearchAttributeType.KEYWORD);
export const CurrentStep = defineSearchAttributeKey('CurrentStep', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [
  DefinitionId,
  DefinitionKey,
  DefinitionVersion,
  TemplateKey,
  Category,
  TriggerType,
  CurrentStep,
] as const;
