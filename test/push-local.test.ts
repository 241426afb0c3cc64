import { definePushSuite } from './harness/push-suite.js';

definePushSuite('local directory', async () => ({ args: [], env: process.env, close: async () => {} }));
