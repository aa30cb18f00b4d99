/**
 * The OpenAPI document passes Redocly's `recommended` rules with nothing to
 * report, errors or warnings, in every variant the gateway serves. Linted in
 * process from the built document, so it needs no network.
 */
import { createConfig, lintFromString, type NormalizedProblem } from '@redocly/openapi-core';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../src/gateway/openapi';

async function lint(document: unknown): Promise<NormalizedProblem[]> {
  const config = await createConfig({ extends: ['recommended'], telemetry: 'off' });
  return lintFromString({ source: JSON.stringify(document), absoluteRef: 'openapi.json', config });
}

const described = (problems: NormalizedProblem[]) =>
  problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location.map((l) => l.pointer ?? '').join(', ')}`);

describe("the OpenAPI document under Redocly's recommended rules", () => {
  it.each([
    ['as served by default', {}],
    ['with METRICS_REQUIRE_KEY and OIDC', { metricsRequireKey: true, oidc: true }],
  ])('has no problem %s', async (_variant, options) => {
    expect(described(await lint(buildOpenApiDocument(options)))).toEqual([]);
  });

  it('reports what the rules refuse, so a clean result means something', async () => {
    const broken = structuredClone(buildOpenApiDocument()) as Record<string, any>;
    delete broken.servers;
    delete broken.info.license;
    broken.paths['/livez'].get.responses = { 200: broken.paths['/livez'].get.responses['200'] };
    const rules = (await lint(broken)).map((p) => p.ruleId).sort();
    expect(rules).toEqual(['info-license', 'no-empty-servers', 'operation-4xx-response']);
  });
});
