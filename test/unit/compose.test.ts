/**
 * docker-compose.yml and the Dockerfile, checked without a Docker engine.
 *
 * The Compose file is validated by `docker-compose config` where that binary
 * is installed; elsewhere it is checked against the Compose Specification's
 * JSON schema (test/fixtures/compose-spec.json, a copy of `schema/compose-spec.json`
 * from the compose-spec/compose-spec repository, Apache-2.0). Either way it is
 * validated, never skipped.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENTRY_POINTS } from '../../scripts/lib/compile';
import { DEV_SERVER_TUNING } from '../../scripts/lib/temporal';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../scripts/lib/temporal-server';

const root = fileURLToPath(new URL('../..', import.meta.url));
const composePath = path.join(root, 'docker-compose.yml');
const composeText = readFileSync(composePath, 'utf8');

interface Service {
  build?: string | { context?: string };
  restart?: string;
  image?: string;
  privileged?: boolean | string;
  depends_on?: string[] | Record<string, { condition?: string }>;
  entrypoint?: string | string[];
  environment?: Record<string, string>;
  volumes?: string[];
}
const compose = parse(composeText) as { services: Record<string, Service> };
const services = compose.services;

/** The absolute path of an executable on PATH, or undefined. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function validateWithSchema(document: unknown): string[] {
  const spec = JSON.parse(readFileSync(path.join(root, 'test/fixtures/compose-spec.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  // The schema is draft-07, which is Ajv's default, but names its meta-schema
  // by an https URL that Ajv does not register; without `$schema` Ajv checks
  // it against the draft-07 meta-schema it already has.
  const { $schema: _metaSchema, ...schema } = spec;
  // strictTypes off: the schema leaves "type" implied beside some keywords,
  // which is valid JSON Schema that Ajv's strict mode only warns about.
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false });
  const validate = ajv.compile(schema);
  if (validate(document)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

const dockerCompose = onPath('docker-compose');
const validator = dockerCompose ? 'docker-compose config' : 'the Compose specification schema';

describe('docker-compose.yml', () => {
  it(`is a valid Compose file (checked by ${validator})`, () => {
    if (dockerCompose) {
      const result = spawnSync(dockerCompose, ['-f', composePath, 'config', '-q'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.error, String(result.error)).toBeUndefined();
      expect(result.status, `docker-compose config failed:\n${result.stderr}`).toBe(0);
    } else {
      expect(validateWithSchema(compose)).toEqual([]);
    }
  });

  it('has a schema fallback that accepts this file and rejects a malformed one', () => {
    expect(validateWithSchema(compose)).toEqual([]);
    const broken = structuredClone(compose) as { services: Record<string, Record<string, unknown>> };
    broken.services.gateway!.ports = 3000;
    broken.services.worker!.no_such_key = true;
    expect(validateWithSchema(broken)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('/services/gateway/ports'),
        expect.stringContaining('/services/worker'),
      ]),
    );
  });

  it('defines the whole product', () => {
    for (const name of ['postgres', 'temporal-schema', 'temporal', 'temporal-namespace', 'temporal-ui', 'mailpit', 'migrate', 'worker', 'gateway']) {
      expect(services, `service ${name}`).toHaveProperty([name]);
    }
  });

  it('builds the migrate, worker and gateway images from this folder', () => {
    for (const name of ['migrate', 'worker', 'gateway']) {
      const build = services[name]?.build;
      const context = typeof build === 'string' ? build : build?.context;
      expect(context, `${name} build context`).toMatch(/^\.\/?$/);
    }
  });

  it('starts again every long-running service that exits, and never a one-shot that finished', () => {
    const oneShots = ['temporal-schema', 'temporal-namespace', 'migrate'];
    for (const [name, service] of Object.entries(services)) {
      if (oneShots.includes(name)) expect(service.restart, name).toBe('no');
      else expect(['unless-stopped', 'always'], `${name} restart: ${service.restart}`).toContain(service.restart);
    }
  });

  it('starts the app only after the migrations completed and Temporal has its namespace', () => {
    for (const name of ['worker', 'gateway']) {
      expect(services[name]?.depends_on, name).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-namespace': { condition: 'service_completed_successfully' },
      });
    }
    expect(services.temporal?.depends_on).toMatchObject({ 'temporal-schema': { condition: 'service_completed_successfully' } });
  });

  it('runs no service privileged', () => {
    for (const [name, service] of Object.entries(services)) {
      expect([true, 'true'], `${name} is privileged`).not.toContain(service.privileged);
    }
  });

  it('gives every interpolated variable a default, so it works without a .env', () => {
    const bare = [...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
    expect(bare).toEqual([]);
  });
});

describe("the compose file's Temporal server", () => {
  const temporal = services.temporal!;
  const command = [temporal.entrypoint ?? []].flat().join(' ');
  const rootInside = /--root (\S+)/.exec(command)?.[1] ?? '';
  // The folder of this repository mounted where the server takes its configuration from.
  const mount = temporal.volumes?.map((v) => v.split(':')).find(([, inside]) => inside === rootInside);
  const file = temporal.environment?.TEMPORAL_DYNAMIC_CONFIG ?? '';

  it("is the server of npm run cluster: the same version, on the same checked-in configuration", () => {
    expect(temporal.image).toBe(`temporalio/server:${TEMPORAL_SERVER_VERSION.slice(1)}`);
    expect(services['temporal-schema']?.image).toBe(`temporalio/admin-tools:${TEMPORAL_SERVER_VERSION.slice(1)}`);
    expect(services['temporal-ui']?.image).toBe(`temporalio/ui:${TEMPORAL_UI_VERSION.slice(1)}`);
    expect(command).toMatch(/--config config --env cluster\b/);
    expect(mount?.[0], `a volume mounted at ${rootInside}`).toBe('./deploy/temporal');
    // The server reads <root>/config/<env>.yaml: the file npm run cluster copies for its server.
    expect(existsSync(path.join(root, 'deploy/temporal/config/cluster.yaml'))).toBe(true);
    expect(path.posix.dirname(file)).toBe(rootInside);
  });

  it('hands each step to a worker as quickly as the development server does', () => {
    const config = parse(readFileSync(path.join(root, mount![0]!, path.posix.basename(file)), 'utf8')) as Record<string, unknown>;
    // Temporal's format: every key a list of values, each with optional constraints.
    for (const [key, values] of Object.entries(config)) {
      expect(Array.isArray(values) && values.every((v) => typeof v === 'object' && v !== null && 'value' in v), key).toBe(true);
    }
    const key = 'history.transferProcessorMaxPollRPS';
    const tuned = DEV_SERVER_TUNING.find((arg) => arg.startsWith(`${key}=`));
    expect(tuned).toBeDefined();
    expect(config[key]).toEqual([{ value: Number(tuned!.split('=')[1]), constraints: {} }]);
  });
});

describe('Dockerfile', () => {
  const lines = readFileSync(path.join(root, 'Dockerfile'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const lastFrom = lines.findLastIndex((line) => /^FROM\s/i.test(line));
  const finalStage = lines.slice(lastFrom);

  it('runs the final stage as a user other than root', () => {
    expect(lastFrom).toBeGreaterThanOrEqual(0);
    const users = finalStage.filter((line) => /^USER\s/i.test(line)).map((line) => line.split(/\s+/)[1] ?? '');
    expect(users.length, 'the final stage sets USER').toBeGreaterThan(0);
    const user = users.at(-1)!.split(':')[0];
    expect(['root', '0', '']).not.toContain(user);
  });

  it('runs the gateway by default in production mode', () => {
    expect(finalStage.some((line) => /^ENV\s.*\bNODE_ENV=production\b/i.test(line))).toBe(true);
    expect(finalStage.find((line) => /^CMD\s/i.test(line))).toContain('dist/node/src/gateway/main.js');
  });

  it('starts only what it compiles: every dist/node file the image or compose runs is an entry point of the build', () => {
    const compose = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
    const started = [...`${lines.join('\n')}\n${compose}`.matchAll(/dist\/node\/([\w/.-]+)\.js/g)].map((m) => `${m[1]}.ts`);
    expect(started).toContain('src/worker/main.ts');
    expect(started).toContain('src/cli/database.ts');
    for (const entry of started) expect(ENTRY_POINTS, entry).toContain(entry);
  });
});
