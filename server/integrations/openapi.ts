import type { Context } from 'koa';
import { z } from 'zod';

/** One API route: the router mounts `handler`, the OpenAPI document describes the same entry. */
export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Koa-style path (`:projectId`). */
  path: string;
  summary: string;
  /** Who may call it (role, token scope, signature, public). */
  access: string;
  requestBody?: z.ZodType;
  /** The success status; 200 when absent. */
  status?: number;
  handler: (ctx: Context) => Promise<void>;
}

const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' }, requestId: { type: 'string' } },
    },
  },
};

/**
 * Builds the OpenAPI 3.1 description from the route table the router is built from, with request
 * bodies converted from the very zod schemas that validate them, so the two cannot drift apart.
 */
export function buildOpenApiDocument(specs: RouteSpec[], extra: { reporterQuery: z.ZodObject }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const path = spec.path.replace(/:(\w+)/g, '{$1}');
    const parameters: Record<string, unknown>[] = [...spec.path.matchAll(/:(\w+)/g)].map((match) => ({ name: match[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (spec.path === '/api/v1/reporter/reports') {
      for (const name of Object.keys(extra.reporterQuery.shape)) parameters.push({ name, in: 'query', required: true, schema: { type: 'string' }, description: 'the project public key (pk_…)' });
      parameters.push({ name: 'X-Bugloop-Reporter-Token', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{16,100}$' } });
    }
    const operation: Record<string, unknown> = {
      summary: spec.summary,
      description: `Access: ${spec.access}.`,
      tags: [spec.path.includes('routing-rules') ? 'routing' : spec.path.includes('reporter') ? 'reporter' : 'integrations'],
      ...(parameters.length > 0 ? { parameters } : {}),
      responses: {
        [String(spec.status ?? 200)]: { description: 'Success' },
        '4XX': { description: 'Bad input or access', content: { 'application/json': { schema: errorBody } } },
      },
    };
    if (spec.requestBody) {
      operation.requestBody = { required: true, content: { 'application/json': { schema: z.toJSONSchema(spec.requestBody, { io: 'input', unrepresentable: 'any' }) } } };
    }
    paths[path] = { ...(paths[path] ?? {}), [spec.method]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Bugloop integrations API', version: '1', description: 'Destinations (Jira, Linear, Slack, webhook, email), routing rules, deliveries and status sync.' },
    components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'bugloop_session' }, token: { type: 'http', scheme: 'bearer' } } },
    security: [{ session: [] }, { token: [] }],
    paths,
  };
}
