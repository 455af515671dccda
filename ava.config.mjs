export default {
  files: ['test/**/*.test.mjs', '!test/gpu/**'],
  workerThreads: false,
  concurrency: 2,
  timeout: '5m',
};
