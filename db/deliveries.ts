/**
 * The delivery ledger's table, `deliveries`: one row per message a step
 * sends, keyed `<workflow id>/<step path>`. Queries only; when to claim,
 * retake or settle a row is decided in activities/delivery.ts.
 */
import { type Kysely, sql } from 'kysely';
import type { Database, DeliveryRow } from './schema';

export interface NewDelivery {
  key: string;
  channel: string;
  workflowId: string;
  stepPath: string;
  recipient: string | null;
  /** The activity attempt that claims it, or null outside an activity. */
  claimedBy: string | null;
  /** The connection the step sends through, or null for the environment's settings. */
  connection: string | null;
  /** The version of that connection the send opened, or null for the environment's settings. */
  connectionVersion: number | null;
}

/** Writes the delivery as SENDING, first attempt; answers false when a row with its key is already there. */
export async function insertSending(db: Kysely<Database>, d: NewDelivery): Promise<boolean> {
  const inserted = await db
    .insertInto('deliveries')
    .values({
      delivery_key: d.key,
      channel: d.channel,
      status: 'SENDING',
      attempts: 1,
      workflow_id: d.workflowId,
      step_path: d.stepPath,
      recipient: d.recipient,
      claimed_by: d.claimedBy,
      connection: d.connection,
      connection_version: d.connectionVersion,
    })
    .onConflict((oc) => oc.column('delivery_key').doNothing())
    .returning('delivery_key')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function getDelivery(db: Kysely<Database>, key: string): Promise<DeliveryRow> {
  return db.selectFrom('deliveries').selectAll().where('delivery_key', '=', key).executeTakeFirstOrThrow();
}

/** Who sends a delivery again: the attempt claiming it, and the connection (and its version) it sends through. */
export type Reclaim = Pick<NewDelivery, 'claimedBy' | 'connection' | 'connectionVersion'>;

/** Takes the row back to SENDING for another attempt, if it still has status `from`; answers whether it did. */
export async function reclaimDelivery(db: Kysely<Database>, key: string, from: string, by: Reclaim): Promise<boolean> {
  const res = await db
    .updateTable('deliveries')
    .set({
      status: 'SENDING',
      attempts: sql<number>`attempts + 1`,
      claimed_by: by.claimedBy,
      connection: by.connection,
      connection_version: by.connectionVersion,
      updated_at: sql<Date>`now()`,
    })
    .where('delivery_key', '=', key)
    .where('status', '=', from)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export interface DeliveryOutcome {
  providerMessageId?: string | undefined;
  result?: unknown;
  error?: string | undefined;
}

/**
 * Records how the delivery ended. A message that went out stays SENT: an
 * attempt Temporal gave up on while it still ran, whose own send then fails,
 * must not say otherwise of a newer attempt's, or a retry or a reset would
 * send it again. `unlessSent` keeps a SENT row from a SENT write too (a late
 * write of the same outcome must not overwrite it).
 */
export async function settleDelivery(
  db: Kysely<Database>,
  key: string,
  status: 'SENT' | 'FAILED' | 'UNKNOWN',
  outcome: DeliveryOutcome,
  { unlessSent = false }: { unlessSent?: boolean } = {},
): Promise<void> {
  let q = db
    .updateTable('deliveries')
    .set({
      status,
      provider_message_id: outcome.providerMessageId ?? null,
      result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
      last_error: outcome.error ?? null,
      updated_at: sql<Date>`now()`,
    })
    .where('delivery_key', '=', key);
  if (unlessSent || status !== 'SENT') q = q.where('status', '!=', 'SENT');
  await q.execute();
}

/** What a run's page shows of a ledger row: never the provider's result, which may hold what the message said. */
export type RunDeliveryRow = Pick<
  DeliveryRow,
  'workflow_id' | 'step_path' | 'channel' | 'status' | 'attempts' | 'recipient' | 'connection' | 'connection_version' | 'last_error' | 'created_at' | 'updated_at'
>;

/** `text` matched literally by LIKE: its `%`, `_` and `\` escaped. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * The deliveries of the run with this workflow id, oldest first: its own, and
 * those of its foreach chunks, whose workflow ids begin with its own
 * (`<workflow id>:<foreach path>:<first index>`, and so on for nested ones).
 * Both parts are read through an index (`idx_deliveries_workflow_id_prefix`).
 */
export async function listRunDeliveries(db: Kysely<Database>, workflowId: string): Promise<RunDeliveryRow[]> {
  return runDeliveriesQuery(db, workflowId).execute();
}

/** The query of {@link listRunDeliveries}, for its plan to be checked. */
export function runDeliveriesQuery(db: Kysely<Database>, workflowId: string) {
  return db
    .selectFrom('deliveries')
    .select(['workflow_id', 'step_path', 'channel', 'status', 'attempts', 'recipient', 'connection', 'connection_version', 'last_error', 'created_at', 'updated_at'])
    .where((eb) => eb.or([eb('workflow_id', '=', workflowId), eb('workflow_id', 'like', `${likeLiteral(workflowId)}:%`)]))
    .orderBy('created_at')
    .orderBy('delivery_key');
}
