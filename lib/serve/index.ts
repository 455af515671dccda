/** `flwnet/serve`: the HTTP service, as a server, a fastify plugin or a (req, res) handler. */
export { flwnetRoutes, type FlwnetRoutesOptions } from './routes';
export { createService, createRequestHandler, FlwnetService, type FlwnetRequestHandler, type ServeOptions } from './server';
export { createMetrics, type ServiceMetrics } from './metrics';
export { openApiDocument } from './schemas';
