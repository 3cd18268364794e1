/**
 * zod ⇄ Fastify. Route schemas are written in zod; `routeSchema` turns them into
 * the JSON Schemas Fastify and @fastify/swagger see (so the OpenAPI document is
 * generated from the same definitions), and the validator compiler maps each
 * JSON Schema back to its zod schema, so zod is what validates requests.
 */
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { ErrorBody } from './schemas/common.js';

const zodOf = new WeakMap<object, z.ZodType>();

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  dropSafeIntegerBounds(json);
  zodOf.set(json, schema);
  return json;
}

/** z.int() documents ±(2⁵³ − 1) bounds; they say nothing to a reader, so the document leaves them out. */
function dropSafeIntegerBounds(node: unknown): void {
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.minimum === Number.MIN_SAFE_INTEGER) delete o.minimum;
  if (o.maximum === Number.MAX_SAFE_INTEGER) delete o.maximum;
  for (const v of Object.values(o)) dropSafeIntegerBounds(v);
}

/** A response that is a file, not JSON. */
export interface BinaryResponse {
  binary: string;
  description: string;
}

export interface RouteSchemaInput {
  /** A stable name for the operation (generated clients name their methods after it). */
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  /** Status code → response body schema (null for an empty body). */
  response: Record<number, z.ZodType | BinaryResponse | null>;
  /** Open even when API keys are configured (health, readiness, metrics). */
  public?: boolean;
}

/** Answers every route but the public ones may give: no or unknown key, read-only key, load shedding. */
const GUARDED_RESPONSES = {
  401: 'No API key, or an unknown one (when API_KEYS / READ_ONLY_API_KEYS are set).',
  403: 'A read-only key on a route that writes.',
  503: 'Overloaded, timed out, shutting down or storage unavailable; see Retry-After.',
} as const;

/** The error body as a shared schema: registered once (app.ts), referenced by every error response. */
export const ERROR_BODY_SCHEMA = { $id: 'ErrorBody', ...jsonSchema(ErrorBody, 'output') };
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: 'ErrorBody#' } } } });

export function routeSchema(r: RouteSchemaInput): FastifySchema {
  const response: Record<number, unknown> = {};
  for (const [status, s] of Object.entries(r.response)) {
    if (s === null) response[Number(status)] = { type: 'null', description: 'No content' };
    else if ('binary' in s)
      response[Number(status)] = { description: s.description, content: { [s.binary]: { schema: { type: 'string', format: 'binary' } } } };
    else if (s === ErrorBody) response[Number(status)] = errorResponse(ErrorBody.description ?? 'Error');
    else response[Number(status)] = jsonSchema(s as z.ZodType, 'output');
  }
  if (!r.public) {
    for (const [status, description] of Object.entries(GUARDED_RESPONSES)) response[Number(status)] ??= errorResponse(description);
  }
  return {
    operationId: r.operationId,
    summary: r.summary,
    description: r.description,
    tags: r.tags,
    ...(r.public && { security: [] }),
    ...(r.params && { params: jsonSchema(r.params, 'input') }),
    ...(r.querystring && { querystring: jsonSchema(r.querystring, 'input') }),
    ...(r.body && { body: jsonSchema(r.body, 'input') }),
    response,
  } as FastifySchema;
}

/** Where a validation failure was found, for messages ("body.vectors[2].id: ..."). */
export class RequestValidationError extends Error {
  constructor(
    readonly part: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(issues.map((i) => `${formatPath(part, i.path)}: ${i.message}`).join('; '));
    this.name = 'RequestValidationError';
  }
}

function formatPath(part: string, path: PropertyKey[]): string {
  let s = part;
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return s;
}

export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const zod = zodOf.get(schema as object);
  if (zod === undefined) throw new Error(`route schema for ${httpPart} was not built with routeSchema()`);
  const part = httpPart === 'querystring' ? 'query' : (httpPart ?? 'body');
  return (data: unknown) => {
    const r = zod.safeParse(data);
    return r.success ? { value: r.data } : { error: new RequestValidationError(part, r.error.issues) };
  };
};
