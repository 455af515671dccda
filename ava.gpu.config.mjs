// `npm run test:gpu`: the GPU suite. Without a usable GPU every test there skips with its reason.
export default {
  files: ['test/gpu/**/*.test.mjs'],
  workerThreads: false,
  concurrency: 1,
  timeout: '10m',
};
