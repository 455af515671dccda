/**
 * The HTTP API described once: each route's query-string schema (what fastify validates with) and
 * response shapes, from which the OpenAPI document served at /openapi.json is built. Changing a
 * parameter here changes both the validation and the published description.
 */
import { DEFAULT_EXPOSURE, OUTPUT_FORMATS } from '../options';
import { ERROR_TABLE } from '../errors';

const exposure = {
  type: 'number',
  minimum: 0,
  maximum: 1,
  default: DEFAULT_EXPOSURE,
  description: 'Target mean brightness in [0, 1]; higher is brighter.',
} as const;

export const enhanceQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    exposure,
    format: {
      type: 'string',
      enum: [...OUTPUT_FORMATS, 'jpg'],
      description: "Output format; default: the input's (PNG when it cannot be written).",
    },
    quality: { type: 'integer', minimum: 1, maximum: 100, description: 'Encoder quality for jpeg, webp, avif and tiff.' },
  },
} as const;

export const inspectQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { exposure },
} as const;

export const evaluateQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_TABLE) },
        message: { type: 'string' },
      },
    },
  },
} as const;

const inspectBody = {
  type: 'object',
  properties: {
    width: { type: 'integer' },
    height: { type: 'integer' },
    exposure: { type: 'number', description: 'The exposure the curve was chosen for.' },
    features: { type: 'array', items: { type: 'number' }, description: '12 histogram fractions, vmin, vmax, exposure.' },
    curve: { type: 'array', items: { type: 'number' }, description: 'The 7 curve parameters the global branch chose.' },
  },
} as const;

const metric = { type: ['number', 'null'] } as const;
const evaluateBody = {
  type: 'object',
  description: 'Losses and metrics of `enhanced` against `reference`; psnr is null for identical images.',
  properties: {
    l1: metric, ssimLoss: metric, color: metric, brightness: metric, structure: metric, total: metric,
    psnr: metric, ssim: metric, ciede2000: metric,
  },
} as const;

const imageBody = {
  description: 'The encoded image as the raw body (any Content-Type but JSON), or multipart/form-data with a file field `image`.',
  required: true,
  content: {
    'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
    'image/*': { schema: { type: 'string', format: 'binary' } },
    'multipart/form-data': {
      schema: { type: 'object', required: ['image'], properties: { image: { type: 'string', format: 'binary' } } },
    },
  },
};

const errorResponses = (statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [String(status), { description: 'Error', content: { 'application/json': { schema: errorBody } } }]),
  );

function parameters(query: { properties: Record<string, object> }) {
  return Object.entries(query.properties).map(([name, schema]) => ({ name, in: 'query', required: false, schema }));
}

const common = [400, 401, 413, 415, 499, 500, 503, 504];

/** The OpenAPI 3.1 document of the service. */
export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: { title: 'flwnet', version, description: 'FLW-Net low-light image enhancement over HTTP.' },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Only when the server has an API key.' } },
    },
    paths: {
      '/v1/enhance': {
        post: {
          summary: 'Enhance an image; the response is the encoded result.',
          parameters: parameters(enhanceQuery),
          requestBody: imageBody,
          responses: {
            200: { description: 'The enhanced image', content: { 'image/*': { schema: { type: 'string', format: 'binary' } } } },
            ...errorResponses(common),
          },
        },
      },
      '/v1/inspect': {
        post: {
          summary: "The global branch's features and curve for an image.",
          parameters: parameters(inspectQuery),
          requestBody: imageBody,
          responses: { 200: { description: 'Features and curve', content: { 'application/json': { schema: inspectBody } } }, ...errorResponses(common) },
        },
      },
      '/v1/evaluate': {
        post: {
          summary: 'Losses and metrics of an enhanced image against a reference.',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['enhanced', 'reference'],
                  properties: { enhanced: { type: 'string', format: 'binary' }, reference: { type: 'string', format: 'binary' } },
                },
              },
            },
          },
          responses: { 200: { description: 'Losses and metrics', content: { 'application/json': { schema: evaluateBody } } }, ...errorResponses(common) },
        },
      },
      '/healthz': { get: { summary: 'The process is up.', responses: { 200: { description: 'OK' } } } },
      '/readyz': { get: { summary: 'Weights loaded and device up.', responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics.', responses: { 200: { description: 'text/plain; version=0.0.4' } } } },
      '/openapi.json': { get: { summary: 'This document.', responses: { 200: { description: 'OpenAPI 3.1' } } } },
    },
  };
}
