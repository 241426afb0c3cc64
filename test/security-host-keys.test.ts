import { execFile } from 'node:child_process';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveFromConfigText, resolveSsh } from '../src/transport/ssh/ssh-config.js';
import { copyFixtureStore, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { type HostKeyType, type SshdOptions, sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

const execFileAsync = promisify(execFile);
const TINY = 'registry.ollama.ai/library/tiny:latest';
const EMPTY_STORE = { models: [], blobs: [], problems: [] };

/** A Host block for the sshd's address with more options, as a user would add to ~/.ssh/config. */
async function addHost(sshd: TestSshd, alias: string, options: string[]): Promise<void> {
  const lines = [`Host ${alias}`, '  HostName 127.0.0.1', `  Port ${sshd.port}`, '  IdentityFile ~/.ssh/id_ed25519', ...options.map((o) => `  ${o}`)];
  await appendFile(join(sshd.home, '.ssh', 'config'), `\n${lines.join('\n')}\n`);
}

/** An sshd, a fixture store and an empty destination directory, for each describe block. */
function hostKeySuite(options: SshdOptions) {
  const suite = {} as { sshd: TestSshd; local: string; remote: string; knownHosts: string };
  let work: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    suite.sshd = await startSshd(options);
    suite.knownHosts = join(suite.sshd.home, '.ssh', 'known_hosts');
  });
  afterAll(() => suite.sshd?.stop());
  beforeEach(async () => {
    work = await tempDir();
    suite.local = await copyFixtureStore(work.path);
    suite.remote = join(work.path, 'remote');
    await mkdir(suite.remote);
  });
  afterEach(() => work.remove());
  const run = (command: 'push' | 'diff', args: string[]) =>
    runCli([command, 'tiny', '--models-dir', suite.local, '--remote-path', suite.remote, ...args], { env: suite.sshd.env });
  return { suite, run };
}

describe.runIf(sshdAvailable())('a host that offers only another key type than the one on file', () => {
  // The host's real key is ed25519; whoever answers at its address now has only an ECDSA key.
  const { suite, run } = hostKeySuite({ hostKeyTypes: ['ecdsa'], knownHosts: 'none' });
  let genuineKey: string;

  beforeAll(async () => {
    const keyFile = join(suite.sshd.dir, 'genuine_host_key');
    await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', keyFile]);
    genuineKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
    await addHost(suite.sshd, 'lax', ['StrictHostKeyChecking no']);
    await addHost(suite.sshd, 'accept-new', ['StrictHostKeyChecking accept-new']);
  });

  it.each([
    { knownHosts: 'plain', hashed: false },
    { knownHosts: 'hashed', hashed: true },
  ])('is refused as a changed key whatever the flags and config say ($knownHosts known_hosts)', async ({ hashed }) => {
    await writeFile(suite.knownHosts, `[127.0.0.1]:${suite.sshd.port} ${genuineKey}\n`);
    if (hashed) await execFileAsync('ssh-keygen', ['-q', '-H', '-f', suite.knownHosts]);
    const before = await readFile(suite.knownHosts);
    const attempts: Array<['push' | 'diff', string[]]> = [
      ['push', ['--host', suite.sshd.alias]],
      ['push', ['--host', suite.sshd.alias, '--accept-new-host-key']],
      ['diff', ['--host', suite.sshd.alias, '--accept-new-host-key']],
      ['push', ['--host', 'lax']],
      ['push', ['--host', 'accept-new', '--accept-new-host-key']],
    ];
    for (const [command, args] of attempts) {
      const result = await run(command, args);
      const what = `${command} ${args.join(' ')}: ${result.stderr}`;
      expect(result.code, what).toBe(1);
      expect(result.stderr, what).toMatch(
        /^ollama-push: WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for \[127\.0\.0\.1\]:\d+: it now shows ecdsa-sha2-nistp256 SHA256:[A-Za-z0-9+/]{43}, but .*known_hosts:1 has its ssh-ed25519 key, which the host no longer offers\. .*ssh-keygen -R '\[127\.0\.0\.1\]:\d+'/,
      );
      expect(result.stderr.trim().split('\n'), what).toHaveLength(1);
      expect(await readFile(suite.knownHosts), what).toEqual(before);
    }
    expect(await checkOllamaStore(suite.remote)).toEqual(EMPTY_STORE);
  });
});

describe.runIf(sshdAvailable())('a host that signs only with SHA-1 ssh-rsa', () => {
  const { suite, run } = hostKeySuite({ hostKeyTypes: ['rsa'], extraSshdConfig: 'HostKeyAlgorithms ssh-rsa\n' });

  beforeAll(async () => {
    await addHost(suite.sshd, 'legacy-appended', ['HostKeyAlgorithms +ssh-rsa']);
    await addHost(suite.sshd, 'legacy-listed', ['HostKeyAlgorithms ssh-ed25519,ssh-rsa']);
  });

  it('is refused with what to do, and no key is recorded even under accept-new', async () => {
    const sha1Refusal =
      /^ollama-push: homelab-1 offers only SHA-1 ssh-rsa host key signatures, which OpenSSH refuses since 8\.8; if you trust it, add `HostKeyAlgorithms \+ssh-rsa` for this host in ~\/\.ssh\/config/;
    const refused = await run('push', ['--host', suite.sshd.alias]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(sha1Refusal);
    expect(refused.stderr.trim().split('\n'), refused.stderr).toHaveLength(1);

    const saved = await readFile(suite.knownHosts);
    try {
      await writeFile(suite.knownHosts, '');
      const unknown = await run('diff', ['--host', suite.sshd.alias, '--accept-new-host-key']);
      expect(unknown.code, unknown.stderr).toBe(1);
      expect(unknown.stderr).toMatch(sha1Refusal);
      expect(await readFile(suite.knownHosts, 'utf8')).toBe('');
    } finally {
      await writeFile(suite.knownHosts, saved);
    }
    expect(await checkOllamaStore(suite.remote)).toEqual(EMPTY_STORE);
  });

  it.each(['legacy-appended', 'legacy-listed'])('is accepted when the config enables ssh-rsa (%s)', async (alias) => {
    const result = await run('push', ['--host', alias]);
    expect(result.code, result.stderr).toBe(0);
    expect((await checkOllamaStore(suite.remote)).models).toEqual([TINY]);
  });
});

describe.runIf(sshdAvailable())('host keys on file decide the algorithm', () => {
  // known_hosts (hashed) holds only the first key; the others would come first in ssh2's default order.
  describe.each<{ hostKeyTypes: HostKeyType[] }>([
    { hostKeyTypes: ['rsa'] },
    { hostKeyTypes: ['rsa', 'ed25519'] },
    { hostKeyTypes: ['ecdsa', 'ed25519'] },
  ])('sshd with $hostKeyTypes host keys', ({ hostKeyTypes }) => {
    const { suite, run } = hostKeySuite({ hostKeyTypes });

    it('connects with the key on file and default algorithms', async () => {
      const result = await run('push', ['--host', suite.sshd.alias]);
      expect(result.code, result.stderr).toBe(0);
      expect((await checkOllamaStore(suite.remote)).models).toEqual([TINY]);
    });
  });
});

describe('HostKeyAlgorithms as OpenSSH assembles it', () => {
  const env = { PATH: process.env.PATH, HOME: '/nonexistent-home' };
  const resolvers = [
    { path: 'ssh -G', resolve: (config: string) => resolveSshWithConfig(config) },
    { path: 'fallback', resolve: async (config: string) => resolveFromConfigText(config, 'h', { env }) },
  ];
  let dir: { path: string; remove: () => Promise<void> };
  beforeAll(async () => (dir = await tempDir()));
  afterAll(() => dir.remove());

  async function resolveSshWithConfig(config: string) {
    const file = join(dir.path, `config-${Math.random().toString(16).slice(2)}`);
    await writeFile(file, config);
    return resolveSsh('h', { env, configFile: file });
  }

  describe.each(resolvers)('through $path', ({ resolve }) => {
    it.each([
      { config: '', expected: undefined },
      { config: 'HostKeyAlgorithms +ssh-rsa', expected: ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] },
      { config: 'HostKeyAlgorithms ssh-rsa,ssh-ed25519', expected: ['ssh-rsa', 'ssh-ed25519'] },
      { config: 'HostKeyAlgorithms -ecdsa-sha2-*', expected: ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256'] },
      { config: 'HostKeyAlgorithms ^rsa-sha2-256', expected: ['rsa-sha2-256', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512'] },
      { config: 'HostKeyAlgorithms ssh-ed25519-cert-v01@openssh.com', expected: [] },
    ])('$config', async ({ config, expected }) => {
      expect((await resolve(`Host h\n  ${config}\n`)).hostKeyAlgorithms).toEqual(expected);
    });
  });
});
