/**
 * How the deliveries report can group its rows: a row per channel, or per
 * channel and connection. Declared once for the query (db/reports.ts), the
 * API's parameter (`by`) and the CLI's option (`--by`).
 */
export const DELIVERY_GROUPINGS = ['channel', 'connection'] as const;

export type DeliveryGrouping = (typeof DELIVERY_GROUPINGS)[number];
