/**
 * `/api/reports/*`: the report rollups (db/reports.ts) over a range of UTC
 * days, for one definition or all. Viewers may read them. Each answer says
 * when the rollups were last brought up to date (`asOf`); open runs are
 * counted live.
 */
import { Router } from 'express';
import { z } from 'zod';
import { findDefinition } from '../../../db/definitions';
import { dailyReport, deliveriesReport, type ReportFilter, reportsAsOf, stepsReport, summaryReport } from '../../../db/reports';
import { requireRole } from '../auth';
import type { GatewayDeps } from '../context';
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

/** Deliveries are not per definition. */
export const deliveriesReportQuery = reportQuery.omit({ definition: true }).strict();

const DAY_MS = 86_400_000;

export function reportRoutes({ db }: GatewayDeps): Router {
  const router = Router();

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

  router.get('/api/reports/summary', requireRole('viewer'), async (req, res) => {
    const filter = await filterOf(parseRequest(reportQuery, req.query, 'query'));
    const [head, summary] = await Promise.all([frame(filter), summaryReport(db, filter)]);
    res.json({ ...head, ...summary });
  });

  router.get('/api/reports/daily', requireRole('viewer'), async (req, res) => {
    const filter = await filterOf(parseRequest(reportQuery, req.query, 'query'));
    const [head, items] = await Promise.all([frame(filter), dailyReport(db, filter)]);
    res.json({ ...head, items });
  });

  router.get('/api/reports/steps', requireRole('viewer'), async (req, res) => {
    const query = parseRequest(stepsReportQuery, req.query, 'query');
    const filter = await filterOf(query);
    const [head, items] = await Promise.all([frame(filter), stepsReport(db, filter, query.limit)]);
    res.json({ ...head, items });
  });

  router.get('/api/reports/deliveries', requireRole('viewer'), async (req, res) => {
    const query = parseRequest(deliveriesReportQuery, req.query, 'query');
    const filter = await filterOf(query);
    const [head, items] = await Promise.all([frame(filter), deliveriesReport(db, filter)]);
    res.json({ ...head, items });
  });

  return router;
}
