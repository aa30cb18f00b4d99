/** Connecting to Temporal, and the server-side setup the product relies on. */
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Config } from '../config';
import { SEARCH_ATTRIBUTES } from '../shared/search-attributes';
import { dataConverterFor } from './encryption';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

export interface TemporalClient {
  connection: Connection;
  client: Client;
}

export async function connectTemporal(config: Config): Promise<TemporalClient> {
  const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: '5s' });
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterFor(config.encryption) });
  return { connection, client };
}

const INDEXED_TYPE = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
} as const;

/**
 * Registers the product's custom search attributes in the namespace when they
 * are missing, so runs are findable in the Web UI on any server, not only on
 * a dev server started with `--search-attribute` flags. Idempotent.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPE[key.type]])),
    });
  } catch (err) {
    // Another process registering them at the same moment is fine.
    if (!/already exists/i.test(String(err))) throw err;
  }
  return missing.map((key) => key.name);
}

/** Readable, unique workflow id: the definition key, then the execution id. */
export function workflowIdFor(definitionKey: string, executionId: string): string {
  return `${definitionKey}-${executionId}`;
}
