/**
 * `/api/reports/*`: the report rollups (db/reports.ts) over a range of UTC
 * days, for one definition or all. Viewers may read them. Each answer says
 * when the rollups were last brought up to date (`asOf`); open runs are
 * counted live.
 */
import type { Router } from 'express';
import { z } from 'zod';
import { CONNECTION_NAME } from '../../../channels/connection';
import { findDefinition } from '../../../db/definitions';
import { dailyReport, deliveriesReport, type ReportFilter, reportsAsOf, stepsReport, summaryReport } from '../../../db/reports';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { named, type Operations, time } from '../operations';
import { DELIVERY_GROUPINGS } from '../../shared/reports';
import { HttpProblem } from '../problem';
import { parseRequest, wholeNumber } from '../validate';

/** Longest range one request may cover. */
export const MAX_REPORT_DAYS = 400;
/** The range when none is given: the last 30 days, today included. */
const DEFAULT_DAYS = 30;

const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T.*)?$/, 'must be a date (YYYY-MM-DD) or an ISO 8601 time')
  .refine((v) => !Number.isNaN(Date.parse(v)), 'is not a real date')
  .transform((v) => new Date(Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v)).toISOString().slice(0, 10));

export const reportQuery = z
  .object({
    /** First UTC day of the range (a time counts as its day). @default 29 days before `to` */
    from: day.optional(),
    /** Last UTC day of the range, included. @default today */
    to: day.optional(),
    /** One definition, by id or key. */
    definition: z.string().min(1).max(200).optional(),
  })
  .strict();

export const stepsReportQuery = reportQuery.extend({ limit: wholeNumber(1, 500).default(100) }).strict();

/** Deliveries are not per definition; they may be per connection. */
export const deliveriesReportQuery = reportQuery
  .omit({ definition: true })
  .extend({
    /** A row per channel, or per channel × connection. @default 'channel' */
    by: z.enum(DELIVERY_GROUPINGS, { error: `must be ${DELIVERY_GROUPINGS.join(' or ')}` }).default('channel'),
    /** Only the deliveries through this connection (its rows name it). */
    connection: z.string().regex(CONNECTION_NAME, 'must be a connection name').optional(),
  })
  .strict();

const DAY_MS = 86_400_000;

const REPORT_NOTE =
  `Days are UTC; the range is \`from\` to \`to\`, both included (the last ${DEFAULT_DAYS} days by default, at most ${MAX_REPORT_DAYS}). Runs count on the day they started, once they have ended; steps and deliveries on the day they happened. ` +
  'Answered from rollups that the workers bring up to date every `REPORTS_REFRESH_INTERVAL_MS` (a minute by default): `asOf` says when.';

const REPORT_QUERY_DOCS = {
  from: { description: 'first day (YYYY-MM-DD, or a time)', example: '2026-11-01' },
  to: { description: 'last day, included; today by default', example: '2026-11-30' },
  definition: { description: "one definition's id or key" },
};

const reportFrame = z.object({
  from: z.string().meta({ description: 'first day of the range (UTC)' }),
  to: z.string().meta({ description: 'last day, included' }),
  definition: z.string().optional().meta({ description: "the definition's key, when the report is about one" }),
  asOf: time.nullable().meta({ description: 'when the rollups were last brought up to date; null before their first pass' }),
});

const runCounts = {
  runs: z.int().meta({ description: 'runs that ended' }),
  succeeded: z.int(),
  failed: z.int(),
  cancelled: z.int(),
  timedOut: z.int(),
  terminated: z.int(),
  slaBreached: z.int().meta({ description: "runs that succeeded later than their version's `sla`" }),
  successRate: z
    .number()
    .nullable()
    .meta({ description: 'succeeded out of the runs that ended on their own (succeeded, failed, timed out): cancelled and terminated runs are left out; null when none did' }),
};

const reportSummarySchema = named(
  'ReportSummary',
  reportFrame.extend({
    ...runCounts,
    open: z.int().meta({ description: 'runs started in the range and not yet ended (live)' }),
    openPastSla: z.int().meta({ description: 'of those, the ones past their version\'s `sla`' }),
    durationMs: z
      .object({ p50: z.int().nullable(), p95: z.int().nullable(), p99: z.int().nullable() })
      .meta({ description: "successful runs' durations, estimated from the rollup's histogram to within 5%" }),
    failingDefinitions: z.array(z.object({ definitionKey: z.string(), runs: z.int(), failed: z.int(), successRate: z.number().nullable() })),
    deliveries: z.array(z.object({ channel: z.string(), status: z.string(), deliveries: z.int() })),
  }),
);
const reportDailySchema = named(
  'ReportDaily',
  reportFrame.extend({
    items: z.array(z.object({ day: z.string(), definitionKey: z.string(), definitionVersion: z.int(), ...runCounts, meanDurationMs: z.int().nullable() })),
  }),
);
const reportStepsSchema = named(
  'ReportSteps',
  reportFrame.extend({
    items: z.array(
      z.object({
        definitionKey: z.string(),
        stepId: z.string(),
        stepType: z.string(),
        started: z.int(),
        completed: z.int(),
        failed: z.int(),
        skipped: z.int(),
        failureRate: z.number().nullable().meta({ description: 'failed out of finished step executions' }),
        topErrors: z.array(z.object({ errorType: z.string().nullable(), failures: z.int(), sample: z.string().nullable() })),
      }),
    ),
  }),
);
const reportDeliveriesSchema = named(
  'ReportDeliveries',
  reportFrame.extend({
    items: z.array(
      z.object({
        day: z.string(),
        channel: z.string(),
        connection: z
          .string()
          .nullable()
          .optional()
          .meta({ description: "with `by=connection` or `connection`: the connection sent through; null for the channel's settings from the environment" }),
        status: z.string(),
        deliveries: z.int(),
        attempts: z.int(),
      }),
    ),
  }),
);

export const reportOperations = {
  'GET /api/reports/summary': {
    tag: 'Reports',
    summary: 'Runs, success rate, durations, open runs, failing definitions and deliveries over a range of days',
    description: REPORT_NOTE,
    access: 'viewer',
    query: { schema: reportQuery, docs: REPORT_QUERY_DOCS },
    answers: { 200: { description: 'the summary', schema: reportSummarySchema } },
    problems: ['validation_failed', 'not_found'],
  },
  'GET /api/reports/daily': {
    tag: 'Reports',
    summary: 'Ended runs per day, definition and version, with the success rate',
    description: REPORT_NOTE,
    access: 'viewer',
    query: { schema: reportQuery, docs: REPORT_QUERY_DOCS },
    answers: { 200: { description: 'a row per day × definition × version, newest day first', schema: reportDailySchema } },
    problems: ['validation_failed', 'not_found'],
  },
  'GET /api/reports/steps': {
    tag: 'Reports',
    summary: 'Steps by failures, with failure rates and their commonest errors',
    description: REPORT_NOTE,
    access: 'viewer',
    query: { schema: stepsReportQuery, docs: { ...REPORT_QUERY_DOCS, limit: { description: 'how many steps' } } },
    answers: { 200: { description: 'the steps, most failures first', schema: reportStepsSchema } },
    problems: ['validation_failed', 'not_found'],
  },
  'GET /api/reports/deliveries': {
    tag: 'Reports',
    summary: 'Deliveries per day, channel (or connection) and ledger status',
    description: REPORT_NOTE,
    access: 'viewer',
    query: {
      schema: deliveriesReportQuery,
      docs: {
        from: REPORT_QUERY_DOCS.from,
        to: REPORT_QUERY_DOCS.to,
        by: { description: 'a row per channel (`channel`), or per channel and connection (`connection`)', example: 'connection' },
        connection: { description: "only the deliveries through this connection", example: 'ops-teams' },
      },
    },
    answers: { 200: { description: 'a row per day × channel (× connection) × status, newest day first', schema: reportDeliveriesSchema } },
    problems: ['validation_failed'],
  },

} satisfies Operations;

export function reportRoutes({ db }: GatewayDeps): Router {
  const { router, serve } = declaredRouter(reportOperations);

  async function filterOf(query: z.infer<typeof reportQuery>): Promise<ReportFilter & { definition?: string }> {
    const to = query.to ?? new Date().toISOString().slice(0, 10);
    const from = query.from ?? new Date(Date.parse(to) - (DEFAULT_DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
    if (from > to) throw new HttpProblem('validation_failed', '"from" is after "to"', [{ path: '$.query.from', message: `must be on or before ${to}` }]);
    if ((Date.parse(to) - Date.parse(from)) / DAY_MS + 1 > MAX_REPORT_DAYS) {
      throw new HttpProblem('validation_failed', `a report covers at most ${MAX_REPORT_DAYS} days`, [
        { path: '$.query.from', message: `must be within ${MAX_REPORT_DAYS} days of "to"` },
      ]);
    }
    if (query.definition === undefined) return { from, to };
    // Deleted definitions' runs stay in the reports.
    const definition = await findDefinition(db, query.definition, { includeDeleted: true });
    if (!definition) throw new HttpProblem('not_found', `no workflow definition has id or key "${query.definition}"`);
    return { from, to, definitionId: definition.id, definition: definition.key };
  }

  const frame = async (filter: ReportFilter & { definition?: string }) => ({
    from: filter.from,
    to: filter.to,
    ...(filter.definition ? { definition: filter.definition } : {}),
    asOf: await reportsAsOf(db),
  });

  serve('GET /api/reports/summary', async (req, res) => {
    const filter = await filterOf(parseRequest(reportQuery, req.query, 'query'));
    const [head, summary] = await Promise.all([frame(filter), summaryReport(db, filter)]);
    res.json({ ...head, ...summary });
  });

  serve('GET /api/reports/daily', async (req, res) => {
    const filter = await filterOf(parseRequest(reportQuery, req.query, 'query'));
    const [head, items] = await Promise.all([frame(filter), dailyReport(db, filter)]);
    res.json({ ...head, items });
  });

  serve('GET /api/reports/steps', async (req, res) => {
    const query = parseRequest(stepsReportQuery, req.query, 'query');
    const filter = await filterOf(query);
    const [head, items] = await Promise.all([frame(filter), stepsReport(db, filter, query.limit)]);
    res.json({ ...head, items });
  });

  serve('GET /api/reports/deliveries', async (req, res) => {
    const query = parseRequest(deliveriesReportQuery, req.query, 'query');
    const filter = await filterOf(query);
    const [head, items] = await Promise.all([frame(filter), deliveriesReport(db, { ...filter, by: query.by, connection: query.connection })]);
    res.json({ ...head, items });
  });

  return router;
}
