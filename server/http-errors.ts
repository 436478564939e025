import type { FastifyError, FastifyInstance } from 'fastify';
import { OlympixError, statusText } from './errors.js';
import type { Log } from './log.js';

// One error handler for every process's HTTP routes: OlympixError keeps its code,
// fastify's own errors (schema validation, body too large, bad content type, bad
// JSON) get their status and a message that names the field, everything else is a
// 500 that is logged and does not leak internals.

export function installErrorHandler(app: FastifyInstance, log: Log): void {
  app.setErrorHandler((error: FastifyError | OlympixError | Error, request, reply) => {
    if (error instanceof OlympixError) {
      return reply.code(error.statusCode).send({
        statusCode: error.statusCode,
        error: statusText(error.statusCode),
        code: error.code,
        message: error.message,
      });
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      const context = fastifyError.validationContext ?? 'body';
      return reply.code(400).send({
        statusCode: 400,
        error: statusText(400),
        code: context === 'body' ? 'OLX_BAD_BODY' : 'OLX_BAD_PARAMETER',
        message: describeValidation(context, fastifyError.validation) ?? fastifyError.message,
      });
    }
    const statusCode = fastifyError.statusCode ?? 500;
    if (statusCode >= 500) log('http.error', { method: request.method, url: request.url, error: String(error) });
    return reply.code(statusCode).send({
      statusCode,
      error: statusText(statusCode),
      code: statusCode >= 500 ? 'OLX_INTERNAL' : (fastifyError.code ?? 'OLX_BAD_REQUEST'),
      message: statusCode >= 500 ? 'internal error' : fastifyError.message,
    });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ statusCode: 404, error: statusText(404), code: 'OLX_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}

interface ValidationIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * One sentence naming the first bad field. A choice among literals (TypeBox writes it
 * as anyOf of consts) reads "body/medal must be one of gold, silver, bronze" rather
 * than ajv's one line per alternative.
 */
function describeValidation(context: string, issues: ValidationIssue[]): string | null {
  const first = issues[0];
  if (!first) return null;
  const field = `${context}${first.instancePath}`;
  const allowed = issues
    .filter((issue) => issue.keyword === 'const' && issue.instancePath === first.instancePath)
    .map((issue) => String(issue.params.allowedValue));
  if (allowed.length > 0) return `${field} must be one of ${allowed.join(', ')}`;
  if (first.keyword === 'additionalProperties') return `${field} has an unknown field "${String(first.params.additionalProperty)}"`;
  return `${field} ${first.message ?? 'is invalid'}`;
}
