import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDestination, resolveFromConfigText, resolveSsh, type ResolvedSsh } from '../src/transport/ssh/ssh-config.js';

const home = mkdtempSync(join(tmpdir(), 'ssh-config-test-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
mkdirSync(join(home, '.ssh'));
const configFile = join(home, '.ssh', 'config');
writeFileSync(
  configFile,
  `# the user's config
Include ~/.ssh/included.conf

Host homelab
  HostName 10.0.0.5
  Port 2222
  User alice
  IdentityFile ~/.ssh/id_lab
  IdentityFile ~/.ssh/id_%r@%h
  IdentitiesOnly yes
  ProxyJump bastion,bob@gate.example:2200
  UserKnownHostsFile ~/.ssh/lab_hosts %d/.ssh/other_hosts
  StrictHostKeyChecking accept-new
  ConnectTimeout 7
  ServerAliveInterval 15

Host nocheck
  StrictHostKeyChecking off
  IdentityAgent none
  ConnectTimeout 1m30s

Host *
  User everyone
  HashKnownHosts yes
  IdentityAgent ~/agent.sock
`,
);
writeFileSync(join(home, '.ssh', 'included.conf'), 'Host inc\n  HostName included.example\n  User carol\n');
const configText = readFileSync(configFile, 'utf8');
const env = { PATH: process.env.PATH, HOME: home, SSH_AUTH_SOCK: '/run/agent-from-env' };
const me = userInfo().username;

const homelab: ResolvedSsh = {
  alias: 'homelab',
  hostName: '10.0.0.5',
  port: 2222,
  user: 'alice',
  identityFiles: [`${home}/.ssh/id_lab`, `${home}/.ssh/id_alice@10.0.0.5`],
  identitiesOnly: true,
  identityAgent: `${home}/agent.sock`,
  proxyJump: ['bastion', 'bob@gate.example:2200'],
  userKnownHostsFiles: [`${home}/.ssh/lab_hosts`, `${home}/.ssh/other_hosts`],
  globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
  strictHostKeyChecking: 'accept-new',
  connectTimeoutMs: 7000,
  serverAliveIntervalMs: 15000,
  hashKnownHosts: true,
  hostKeyAlias: undefined,
};
const defaultIdentityFiles = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map(
  (name) => `${home}/.ssh/${name}`,
);

// Both paths must agree: `ssh -G` (an ssh binary is on PATH here) and the ssh-config package fallback.
const resolvers = [
  { path: 'ssh -G', resolve: resolveSsh },
  { path: 'fallback', resolve: async (destination: string, options = {}) => resolveFromConfigText(configText, destination, { env, ...options }) },
];

describe.each(resolvers)('resolving through $path', ({ resolve }) => {
  it('applies a Host block and the Host * defaults', async () => {
    expect(await resolve('homelab', { env })).toEqual(homelab);
  });

  it.each([
    { name: 'user and port in the destination', destination: 'root@homelab:2200', options: {}, user: 'root', port: 2200 },
    { name: 'flags over the destination', destination: 'root@homelab:2200', options: { user: 'flag', port: 2300 }, user: 'flag', port: 2300 },
    { name: 'flags over the config', destination: 'homelab', options: { user: 'flag', port: 2300 }, user: 'flag', port: 2300 },
  ])('$name', async ({ destination, options, user, port }) => {
    expect(await resolve(destination, { env, ...options })).toMatchObject({ alias: 'homelab', hostName: '10.0.0.5', user, port });
  });

  it('puts identity files given by flag first, unchecked', async () => {
    const resolved = await resolve('homelab', { env, identityFiles: ['~/flag key', '/nonexistent/k'] });
    expect(resolved.identityFiles).toEqual([`${home}/flag key`, '/nonexistent/k', ...homelab.identityFiles]);
  });

  it('uses OpenSSH defaults for a host with no block of its own', async () => {
    expect(await resolve('plain.example', { env: { ...env, SSH_AUTH_SOCK: undefined } })).toEqual({
      ...homelab,
      alias: 'plain.example',
      hostName: 'plain.example',
      port: 22,
      user: 'everyone',
      identityFiles: defaultIdentityFiles,
      identitiesOnly: false,
      proxyJump: [],
      userKnownHostsFiles: [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`],
      strictHostKeyChecking: 'ask',
      connectTimeoutMs: undefined,
      serverAliveIntervalMs: undefined,
    });
  });

  it('reads off, IdentityAgent none and time units', async () => {
    expect(await resolve('nocheck', { env })).toMatchObject({ strictHostKeyChecking: 'no', identityAgent: undefined, connectTimeoutMs: 90_000 });
  });

  it('rejects a hostile destination before running anything', async () => {
    await expect(resolve('-oProxyCommand=touch /tmp/pwned', { env })).rejects.toMatchObject({ side: 'usage', exitCode: 2 });
  });
});

describe('resolveSsh through ssh -G', () => {
  it('follows Include', async () => {
    expect(await resolveSsh('inc', { env })).toMatchObject({ hostName: 'included.example', user: 'carol' });
  });

  it('reads an explicit config file instead of ~/.ssh/config', async () => {
    const other = join(home, 'other.conf');
    writeFileSync(other, 'Host homelab\n  HostName other.example\n  IdentityAgent SSH_AUTH_SOCK\n');
    expect(await resolveSsh('homelab', { env, configFile: other })).toMatchObject({
      hostName: 'other.example',
      user: me,
      identityAgent: '/run/agent-from-env',
      hashKnownHosts: false,
    });
  });

  it('uses no config when $HOME has none', async () => {
    const empty = mkdtempSync(join(home, 'empty-home-'));
    expect(await resolveSsh('homelab', { env: { ...env, HOME: empty } })).toMatchObject({ hostName: 'homelab', port: 22, user: me });
  });

  it('reads the system-wide config too when $HOME is the real home, as plain ssh does', async () => {
    const expected = execFileSync('ssh', ['-G', '-T', 'probe.example'], { encoding: 'utf8', stdio: 'pipe' });
    const resolved = await resolveSsh('probe.example', { env: { ...env, HOME: userInfo().homedir } });
    expect(resolved.hashKnownHosts).toBe(/^hashknownhosts yes$/m.test(expected));
    expect(resolved.user).toBe(/^user (.*)$/m.exec(expected)![1]);
  });

  it('reports a broken config as a PushError naming the problem', async () => {
    const broken = join(home, 'broken.conf');
    writeFileSync(broken, 'Host x\n  NoSuchOption yes\n');
    await expect(resolveSsh('x', { env, configFile: broken })).rejects.toMatchObject({
      name: 'PushError',
      exitCode: 2,
      message: expect.stringContaining('Bad configuration option: nosuchoption'),
    });
  });
});

describe('resolveSsh without an ssh binary', () => {
  it('parses ~/.ssh/config itself', async () => {
    expect(await resolveSsh('homelab', { env: { ...env, PATH: '/nonexistent' } })).toEqual(homelab);
  });

  it('does not follow Include', async () => {
    expect(await resolveSsh('inc', { env: { ...env, PATH: '/nonexistent' } })).toMatchObject({ hostName: 'inc', user: 'everyone' });
  });

  it('fails on a missing explicit config file', async () => {
    await expect(resolveSsh('x', { env: { ...env, PATH: '/nonexistent' }, configFile: join(home, 'missing') })).rejects.toMatchObject({
      name: 'PushError',
    });
  });
});

describe('parseDestination', () => {
  it.each([
    ['homelab', { host: 'homelab' }],
    ['gpu.lab.example', { host: 'gpu.lab.example' }],
    ['alice@homelab', { user: 'alice', host: 'homelab' }],
    ['homelab:2222', { host: 'homelab', port: 2222 }],
    ['alice@homelab:2222', { user: 'alice', host: 'homelab', port: 2222 }],
    ['me@corp@homelab', { user: 'me@corp', host: 'homelab' }],
    ['10.0.0.5:22', { host: '10.0.0.5', port: 22 }],
    ['[::1]:2222', { host: '::1', port: 2222 }],
    ['alice@[fe80::1%eth0]:2222', { user: 'alice', host: 'fe80::1%eth0', port: 2222 }],
    ['[2001:db8::5]', { host: '2001:db8::5' }],
    ['alice@2001:db8::5', { user: 'alice', host: '2001:db8::5' }],
    ['[homelab]:2222', { host: 'homelab', port: 2222 }],
    ['u@h:65535', { user: 'u', host: 'h', port: 65535 }],
  ])('%s', (text, expected) => {
    expect(parseDestination(text)).toEqual({ user: undefined, ...expected });
  });

  it.each([
    '',
    'alice@',
    '@homelab',
    'homelab:',
    'homelab:0',
    'homelab:65536',
    'homelab:22x',
    'homelab:+22',
    'homelab:2:2',
    '-oProxyCommand=x',
    'alice@-oProxyCommand=x',
    '-lroot@homelab',
    'home lab',
    ' homelab',
    'homelab\n',
    'homelab;reboot',
    'homelab$(reboot)',
    '`reboot`',
    "al'ice@homelab",
    'ali ce@homelab',
    '[::1',
    '[::1]x',
    '[::1]:',
    '[]:22',
    '[fe80::1%$(reboot)]',
    '[not an address]:22',
    'a/b',
  ])('rejects %j', (text) => {
    expect(() => parseDestination(text)).toThrow(expect.objectContaining({ name: 'PushError', side: 'usage', exitCode: 2 }));
  });
});
