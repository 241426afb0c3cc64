import { execFile, execFileSync, spawn } from 'node:child_process';
import { appendFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { copyFixtureStore, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

const execFileAsync = promisify(execFile);
const TINY = 'registry.ollama.ai/library/tiny:latest';

describe.runIf(sshdAvailable())('SSH destinations, host keys and authentication', () => {
  let sshd: TestSshd;
  let work: { path: string; remove: () => Promise<void> };
  let local: string;
  let remote: string;

  beforeAll(async () => {
    sshd = await startSshd({
      // VERBOSE: sshd logs a key the client asks about before signing ("Postponed publickey").
      extraSshdConfig: 'LogLevel VERBOSE\n',
      extraClientConfig: `
Host via-jump
  HostName 127.0.0.1
  Port PORT
  IdentityFile ~/.ssh/id_ed25519
  ProxyJump homelab-1
`,
    });
    // The jump alias must name the same port; it is only known once sshd runs.
    const config = join(sshd.home, '.ssh', 'config');
    await writeFile(config, (await readFile(config, 'utf8')).replace('PORT', String(sshd.port)));
  });
  afterAll(() => sshd?.stop());
  beforeEach(async () => {
    work = await tempDir();
    local = await copyFixtureStore(work.path);
    remote = join(work.path, 'remote');
    await mkdir(remote);
  });
  afterEach(() => work.remove());

  const push = (args: string[], env: NodeJS.ProcessEnv = sshd.env) =>
    runCli(['tiny', '--models-dir', local, '--remote-path', remote, ...args], { env });

  it('reaches user@host:port with -i, without any config entry', async () => {
    const result = await push(['--host', `${sshd.user}@127.0.0.1:${sshd.port}`, '-i', sshd.clientKey]);
    expect(result.code, result.stderr).toBe(0);
    expect((await checkOllamaStore(remote)).models).toEqual([TINY]);
  });

  it('goes through a ProxyJump hop, checking each host key', async () => {
    const result = await push(['--host', 'via-jump']);
    expect(result.code, result.stderr).toBe(0);
    expect((await checkOllamaStore(remote)).models).toEqual([TINY]);
  });

  it('authenticates with ssh-agent when there is no key file', async () => {
    const agentDir = await tempDir('ollama-push-agent-');
    const socket = join(agentDir.path, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !(await execFileAsync('test', ['-S', socket]).then(() => true, () => false)); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await execFileAsync('ssh-add', [sshd.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      const hidden = `${sshd.clientKey}.away`;
      await rename(sshd.clientKey, hidden);
      try {
        const result = await push(['--host', sshd.alias], { ...sshd.env, SSH_AUTH_SOCK: socket });
        expect(result.code, result.stderr).toBe(0);
        const noAgent = await push(['--host', sshd.alias]);
        expect(noAgent.code).toBe(1);
        expect(noAgent.stderr).toMatch(/no way to log in.*ssh-agent/);
      } finally {
        await rename(hidden, sshd.clientKey);
      }
    } finally {
      agent.kill();
      await agentDir.remove();
    }
  });

  it('refuses an unknown host key with its fingerprint, and records it only when told to', async () => {
    const knownHosts = join(sshd.home, '.ssh', 'known_hosts');
    const saved = await readFile(knownHosts);
    await writeFile(knownHosts, '');
    try {
      const refused = await push(['--host', sshd.alias]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/unknown host key for \[127\.0\.0\.1\]:\d+: ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\b/);
      expect(refused.stderr).toMatch(/--accept-new-host-key/);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(await checkOllamaStore(remote)).toEqual({ models: [], blobs: [], problems: [] });

      const accepted = await push(['--host', sshd.alias, '--accept-new-host-key']);
      expect(accepted.code, accepted.stderr).toBe(0);
      const recorded = await readFile(knownHosts, 'utf8');
      // Plain, as OpenSSH writes it without HashKnownHosts (the test's config does not set it).
      expect(recorded).toMatch(/^\[127\.0\.0\.1\]:\d+ ssh-ed25519 AAAA/);
      // OpenSSH itself now trusts the recorded key.
      await execFileAsync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', knownHosts]);
      expect((await push(['--host', sshd.alias, '--json'])).code).toBe(0);
    } finally {
      await writeFile(knownHosts, saved);
    }
  });

  it('looks the host key up under HostKeyAlias when the config gives one', async () => {
    const config = join(sshd.home, '.ssh', 'config');
    const knownHosts = join(sshd.home, '.ssh', 'known_hosts');
    const [savedConfig, savedKnown] = [await readFile(config), await readFile(knownHosts)];
    await writeFile(config, `${savedConfig}\nHost keyed\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  IdentityFile ~/.ssh/id_ed25519\n  HostKeyAlias my-node-key\n`);
    try {
      await writeFile(knownHosts, '');
      const unknown = await push(['--host', 'keyed']);
      expect(unknown.stderr).toMatch(/unknown host key for my-node-key:/);
      await writeFile(knownHosts, `my-node-key ${sshd.hostKeyLine}\n`);
      const known = await push(['--host', 'keyed']);
      expect(known.code, known.stderr).toBe(0);
    } finally {
      await writeFile(config, savedConfig);
      await writeFile(knownHosts, savedKnown);
    }
  });

  it('refuses a changed host key loudly, whatever the flags', async () => {
    const knownHosts = join(sshd.home, '.ssh', 'known_hosts');
    const saved = await readFile(knownHosts);
    const other = join(work.path, 'other_key');
    await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const otherKey = (await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    await writeFile(knownHosts, `[127.0.0.1]:${sshd.port} ${otherKey}\n`);
    try {
      for (const flags of [[], ['--accept-new-host-key']]) {
        const result = await push(['--host', sshd.alias, ...flags]);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/HAS CHANGED/);
        expect(result.stderr).toMatch(/ssh-keygen -R/);
      }
      expect(await checkOllamaStore(remote)).toEqual({ models: [], blobs: [], problems: [] });
    } finally {
      await writeFile(knownHosts, saved);
    }
  });

  it('signs with each key file in its first request, without asking first whether the server takes the key', async () => {
    const rsa = join(work.path, 'id_rsa');
    const stranger = join(work.path, 'stranger');
    await execFileAsync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsa]);
    await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    await appendFile(join(sshd.dir, 'authorized_keys'), await readFile(`${rsa}.pub`));
    const loggedDuring = async (run: () => Promise<unknown>) => {
      const from = (await stat(sshd.logPath)).size;
      await run();
      return (await readFile(sshd.logPath)).subarray(from).toString('utf8');
    };
    const log = await loggedDuring(async () => {
      const result = await push(['--host', sshd.alias, '-i', stranger, '-i', rsa]);
      expect(result.code, result.stderr).toBe(0);
    });
    expect(log).toMatch(/Failed publickey for \S+ from .* ED25519 /);
    expect(log).toMatch(/Accepted publickey for \S+ from .* RSA /);
    expect(log).not.toContain('Postponed publickey');
    // The same log shows the question where a client asks it: OpenSSH's ssh.
    const asked = await loggedDuring(() => execFileAsync('ssh', [...sshd.opensshArgs, sshd.alias, 'true'], { env: sshd.env }));
    expect(asked).toContain('Postponed publickey');
  });

  it('says which methods it tried when authentication fails', async () => {
    const stranger = join(work.path, 'stranger');
    await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const result = await push(['--host', `127.0.0.1:${sshd.port}`, '-i', stranger]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`authentication failed for ${sshd.user}@127.0.0.1:${sshd.port}: tried key ${stranger}`);
  });

  it('explains a refused connection and an unresolvable host in one line', async () => {
    const refused = await push(['--host', '127.0.0.1:1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ollama-push: connection refused by 127\.0\.0\.1:1; is sshd running/);
    const bad = await push(['--host=-oProxyCommand=touch /tmp/pwned']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ollama-push: invalid destination/);
  });

  it('pushes through --rsh with the OpenSSH client', async () => {
    const rsh = ['ssh', ...sshd.opensshArgs, sshd.alias].map((w) => `'${w}'`).join(' ');
    const result = await push(['--rsh', rsh]);
    expect(result.code, result.stderr).toBe(0);
    expect((await checkOllamaStore(remote)).models).toEqual([TINY]);
  });

  it('runs every remote command through sudo -n with --sudo', async () => {
    const result = await push(['--host', sshd.alias, '--sudo', '--chown', `${sshd.user}:${sshd.user}`]);
    expect(result.code, result.stderr).toBe(0);
    expect((await checkOllamaStore(remote)).models).toEqual([TINY]);
  });
});

/** A second, unprivileged account, to see permission errors as users do (root bypasses file modes). */
function canAddTestUser(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    // '*': no password, but not a locked account (sshd refuses locked ones).
    execFileSync('sh', ['-c', 'id ollama-push-test >/dev/null 2>&1 || useradd --create-home --shell /bin/sh ollama-push-test; usermod -p "*" ollama-push-test'], { stdio: 'ignore' });
    return true;
  } catch {
    process.stderr.write('\n!!! cannot create a test user here: the permission-denied and sudo-password tests are SKIPPED\n\n');
    return false;
  }
}

describe.runIf(sshdAvailable() && canAddTestUser())('an unprivileged login', () => {
  let sshd: TestSshd;
  let work: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    sshd = await startSshd();
    work = await tempDir();
    // sshd reads authorized_keys as the user logging in.
    execFileSync('chmod', ['755', sshd.dir]);
    execFileSync('chmod', ['644', join(sshd.dir, 'authorized_keys')]);
  });
  afterAll(async () => {
    await sshd?.stop();
    await work?.remove();
  });

  it('says permission denied and suggests --sudo; explains a sudo that wants a password', async () => {
    const local = await copyFixtureStore(work.path);
    const rootOwned = join(work.path, 'root-owned');
    await mkdir(rootOwned, { mode: 0o755 });
    execFileSync('chmod', ['755', work.path]);
    const as = ['--host', `ollama-push-test@127.0.0.1:${sshd.port}`, '-i', sshd.clientKey];
    const denied = await runCli(['tiny', '--models-dir', local, '--remote-path', rootOwned, ...as], { env: sshd.env });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^ollama-push: permission denied on .*root-owned.*use --sudo/m);
    const sudo = await runCli(['tiny', '--models-dir', local, '--remote-path', rootOwned, '--sudo', ...as], { env: sshd.env });
    expect(sudo.code).toBe(1);
    expect(sudo.stderr).toMatch(/sudo on .* wants a password; allow NOPASSWD/);
    expect(await checkOllamaStore(rootOwned)).toEqual({ models: [], blobs: [], problems: [] });
  });
});

describe.runIf(sshdAvailable())('without --remote-path', () => {
  let sshd: TestSshd;
  let work: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    work = await tempDir();
    // The login's HOME is a temp dir: its ~/.ollama/models is the store to find.
    // A stand-in systemctl first on the session's PATH (no systemd here): it answers for the ollama
    // service once the test writes its environment.
    const bin = join(work.path, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'systemctl'), `#!/bin/sh\ncat "${work.path}/service-env" 2>/dev/null\n`, { mode: 0o755 });
    sshd = await startSshd({ extraSshdConfig: `SetEnv HOME=${work.path}/remote-home PATH=${bin}:/usr/local/bin:/usr/bin:/bin\n` });
  });
  afterAll(async () => {
    await sshd?.stop();
    await work?.remove();
  });

  it("finds the login user's ~/.ollama/models and says so, or asks for --remote-path", async () => {
    const local = await copyFixtureStore(work.path);
    const none = await runCli(['tiny', '--models-dir', local, '--host', sshd.alias], { env: sshd.env });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^ollama-push: found no Ollama store on ssh homelab-1 .*pass --remote-path DIR$/m);

    const store = join(work.path, 'remote-home', '.ollama', 'models');
    await mkdir(store, { recursive: true });
    const found = await runCli(['tiny', '--models-dir', local, '--host', sshd.alias], { env: sshd.env });
    expect(found.code, found.stderr).toBe(0);
    expect(found.stderr).toContain(`using remote path ${store} (the login user's ~/.ollama/models)`);
    expect((await checkOllamaStore(store)).models).toEqual([TINY]);

    // The service's OLLAMA_MODELS wins, quoted or not, first or not, as `systemctl show --value` prints it.
    const serviceStore = join(work.path, 'service-store');
    await mkdir(serviceStore);
    for (const line of [`"OLLAMA_MODELS=${serviceStore}"`, `OLLAMA_HOST=0.0.0.0 OLLAMA_MODELS=${serviceStore}`]) {
      await writeFile(join(work.path, 'service-env'), `${line}\n`);
      const viaService = await runCli(['tiny:q2', '--models-dir', local, '--host', sshd.alias], { env: sshd.env });
      expect(viaService.code, viaService.stderr).toBe(0);
      expect(viaService.stderr).toContain(`using remote path ${serviceStore} (OLLAMA_MODELS of the ollama service)`);
    }
    expect((await checkOllamaStore(serviceStore)).models).toEqual(['registry.ollama.ai/library/tiny:q2']);
  });
});
