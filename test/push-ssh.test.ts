import { describe } from 'vitest';
import { definePushSuite } from './harness/push-suite.js';
import { sshdAvailable, startSshd } from './harness/sshd.js';

// The same suite as the local directory, through a real OpenSSH sshd on loopback, reached by an alias
// from a temporary HOME's ~/.ssh/config, with its host key checked against a hashed known_hosts.
describe.runIf(sshdAvailable())('over ssh2', () => {
  definePushSuite('ssh alias', async () => {
    const sshd = await startSshd();
    return { args: ['--host', sshd.alias], env: sshd.env, close: () => sshd.stop() };
  });
});
