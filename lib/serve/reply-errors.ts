/**
 * Every error the service sends is JSON `{ error: { code, message } }` with the HTTP status that
 * lib/errors.ts ERROR_TABLE gives the code. Fastify's own errors (body too large, bad media type,
 * schema validation) are translated to flwnet codes here.
 */
import type { FastifyReply } from 'fastify';
import { BusyError, ERROR_TABLE, FlwnetError, type FlwnetErrorCode } from '../errors';

export interface ServiceError {
  code: FlwnetErrorCode;
  message: string;
  retryAfter?: number;
}

const FASTIFY_CODES: Record<string, FlwnetErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_FLWNET_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'ERR_FLWNET_TOO_LARGE',
  // More parts than the route takes: a malformed request, not an oversized one.
  FST_FILES_LIMIT: 'ERR_FLWNET_INVALID_OPTION',
  FST_PARTS_LIMIT: 'ERR_FLWNET_INVALID_OPTION',
  FST_FIELDS_LIMIT: 'ERR_FLWNET_INVALID_OPTION',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_FLWNET_UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'ERR_FLWNET_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_FLWNET_INVALID_INPUT',
};

export function toServiceError(err: unknown): ServiceError {
  if (err instanceof BusyError) return { code: err.code, message: err.message, retryAfter: err.retryAfter };
  if (err instanceof FlwnetError) return { code: err.code, message: err.message };
  const e = err as { code?: string; message?: string; validation?: unknown; statusCode?: number };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (e?.validation) return { code: 'ERR_FLWNET_INVALID_OPTION', message };
  const mapped = e?.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return { code: mapped, message };
  // Any other client error (malformed multipart, a cut-off body) is bad input, not a server fault.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { code: 'ERR_FLWNET_INVALID_INPUT', message };
  }
  return { code: 'ERR_FLWNET_INTERNAL', message };
}

export function sendError(reply: FastifyReply, error: ServiceError): FastifyReply {
  if (error.retryAfter !== undefined) reply.header('Retry-After', String(error.retryAfter));
  return reply
    .code(ERROR_TABLE[error.code].status)
    .type('application/json; charset=utf-8')
    .send({ error: { code: error.code, message: error.message } });
}
