import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

// sshd re-executes itself for every connection and refuses to start from a relative path.
const SSHD = '/usr/sbin/sshd';
const WAIT_TIMEOUT_MS = 15_000;
const BIND_ATTEMPTS = 3;

export interface TestSshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The temp dir holding everything below; removed by stop(). */
  readonly dir: string;
  /** A temporary HOME: .ssh/config, .ssh/id_ed25519(.pub), .ssh/known_hosts. */
  readonly home: string;
  /** The Host entry in home/.ssh/config. */
  readonly alias: string;
  readonly user: string;
  /** The client's private key (unencrypted ed25519), home/.ssh/id_ed25519. */
  readonly clientKey: string;
  /** The server's (first) public host key: 'ssh-ed25519 AAAA...'. */
  readonly hostKeyLine: string;
  /** process.env with HOME=home and without SSH_AUTH_SOCK. */
  readonly env: NodeJS.ProcessEnv;
  readonly logPath: string;
  /**
   * Options that make the real OpenSSH client (ssh, scp, sftp) use the temp HOME. OpenSSH expands `~`
   * with the passwd entry's home, never $HOME, so the config, key and known_hosts are given by path.
   */
  readonly opensshArgs: readonly string[];
  /** Stops sshd and its sessions and removes dir. Safe to call twice. */
  stop(): Promise<void>;
}

export type HostKeyType = 'ed25519' | 'ecdsa' | 'rsa';

export interface SshdOptions {
  /** Default 'homelab-1'. */
  alias?: string;
  /**
   * Default 'hashed' (written with ssh-keygen -H). The host key is recorded for `[127.0.0.1]:port` and
   * `[alias]:port`; 'none' writes no known_hosts file.
   */
  knownHosts?: 'hashed' | 'plain' | 'none';
  /**
   * The host keys sshd offers, one HostKey each; default ['ed25519']. known_hosts gets the first only.
   * `extraSshdConfig` can narrow what sshd signs with (HostKeyAlgorithms ssh-rsa).
   */
  hostKeyTypes?: readonly HostKeyType[];
  /** Appended to sshd_config. sshd keeps the first value it reads, so this can add options or Match blocks but not override the ones set here. */
  extraSshdConfig?: string;
  /** Appended to home/.ssh/config, after the alias's Host block (which wins for the options it sets). */
  extraClientConfig?: string;
  /**
   * Runs sshd through this command, e.g. `unshare --mount ...` so that it sees other directories than
   * the tests do; the command must end by running its arguments (`exec "$@"`).
   */
  launchWith?: readonly string[];
}

/** Starts a throwaway OpenSSH server on 127.0.0.1 that accepts only a fresh client key, with a temp HOME that knows it. */
export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  const alias = options.alias ?? 'homelab-1';
  const user = os.userInfo().username;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ollama-push-sshd-'));
  const home = path.join(dir, 'home');
  const files = {
    sshdConfig: path.join(dir, 'sshd_config'),
    hostKeys: (options.hostKeyTypes ?? ['ed25519']).map((type) => ({ type, file: path.join(dir, `ssh_host_${type}_key`) })),
    authorizedKeys: path.join(dir, 'authorized_keys'),
    pid: path.join(dir, 'sshd.pid'),
    log: path.join(dir, 'sshd.log'),
    clientConfig: path.join(home, '.ssh', 'config'),
    clientKey: path.join(home, '.ssh', 'id_ed25519'),
    knownHosts: path.join(home, '.ssh', 'known_hosts'),
  };
  try {
    await mkdir(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
    await Promise.all([...files.hostKeys.map((key) => generateKey(key.file, key.type)), generateKey(files.clientKey, 'ed25519')]);
    await writeFile(files.authorizedKeys, await readFile(`${files.clientKey}.pub`));
    const hostKeyLine = (await readFile(`${files.hostKeys[0]!.file}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    // Root's sshd wants its privilege separation directory, which a fresh container lacks.
    if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true });

    let port = 0; // until sshd listens
    for (let attempt = 1; port === 0; attempt++) {
      const candidate = await freePort();
      await writeFile(files.sshdConfig, sshdConfig(candidate, files) + (options.extraSshdConfig ?? ''));
      await writeFile(files.clientConfig, clientConfig(alias, candidate, user) + (options.extraClientConfig ?? ''), { mode: 0o600 });
      await rm(files.knownHosts, { force: true });
      if (options.knownHosts !== 'none') {
        const names = [`[127.0.0.1]:${candidate}`, `[${alias}]:${candidate}`];
        await writeKnownHosts(files.knownHosts, names, hostKeyLine, options.knownHosts !== 'plain');
      }
      // Another process may take the port between freePort() and sshd's bind: then try another one.
      if (await launchSshd(candidate, files, options.launchWith ?? [])) port = candidate;
      else if (attempt === BIND_ATTEMPTS) throw new Error(`sshd could not bind a port in ${BIND_ATTEMPTS} attempts:\n${await readLog(files.log)}`);
    }

    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.SSH_AUTH_SOCK;
    let stopping: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      dir,
      home,
      alias,
      user,
      clientKey: files.clientKey,
      hostKeyLine,
      env,
      logPath: files.log,
      opensshArgs: [
        '-F', files.clientConfig,
        '-i', files.clientKey,
        '-o', `UserKnownHostsFile=${files.knownHosts}`,
        '-o', 'GlobalKnownHostsFile=/dev/null',
        '-o', 'BatchMode=yes',
      ],
      stop: () => (stopping ??= stopSshd(files.pid, port, dir)),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * For describe blocks: whether sshd can run here. When it cannot, warns loudly and returns false so the
 * SSH tests skip, except on CI (CI=true), where it throws: CI must not skip them silently.
 */
export function sshdAvailable(): boolean {
  if (existsSync(SSHD)) return true;
  const message = `${SSHD} not found, so the SSH tests are SKIPPED. Install openssh-server to run them.`;
  if (process.env.CI === 'true') throw new Error(message);
  const bar = '!'.repeat(100);
  process.stderr.write(`\n${bar}\n!!! ${message}\n${bar}\n\n`);
  return false;
}

function sshdConfig(port: number, files: { hostKeys: { file: string }[]; authorizedKeys: string; pid: string }): string {
  // No AcceptEnv: the session sees only what sshd sets, as on a stock server.
  return `Port ${port}
ListenAddress 127.0.0.1
${files.hostKeys.map((key) => `HostKey ${key.file}`).join('\n')}
AuthorizedKeysFile ${files.authorizedKeys}
StrictModes no
PidFile ${files.pid}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
MaxSessions 20
Subsystem sftp internal-sftp
`;
}

function clientConfig(alias: string, port: number, user: string): string {
  // `~` on purpose: the product resolves it with $HOME, as users' configs are written.
  return `Host ${alias}
  HostName 127.0.0.1
  Port ${port}
  User ${user}
  IdentityFile ~/.ssh/id_ed25519
`;
}

async function generateKey(file: string, type: HostKeyType): Promise<void> {
  await execFileAsync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', file]);
}

async function writeKnownHosts(file: string, names: string[], hostKeyLine: string, hashed: boolean): Promise<void> {
  await writeFile(file, names.map((name) => `${name} ${hostKeyLine}\n`).join(''), { mode: 0o600 });
  if (!hashed) return;
  await execFileAsync('ssh-keygen', ['-H', '-f', file]);
  await rm(`${file}.old`);
}

/** Runs sshd and waits until it listens; false when the port was taken meanwhile. */
async function launchSshd(port: number, files: { sshdConfig: string; pid: string; log: string }, launchWith: readonly string[]): Promise<boolean> {
  await writeFile(files.log, '');
  try {
    // Returns once sshd has daemonized; the daemon binds the port, then writes the PidFile.
    const [command, ...args] = [...launchWith, SSHD, '-f', files.sshdConfig, '-E', files.log];
    await execFileAsync(command!, args);
  } catch (error) {
    throw new Error(`sshd failed to start: ${(error as Error).message}\n${await readLog(files.log)}`);
  }
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (existsSync(files.pid) && (await accepts(port))) return true;
    if ((await readLog(files.log)).includes('Cannot bind any address')) return false;
    await sleep(20);
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${WAIT_TIMEOUT_MS} ms:\n${await readLog(files.log)}`);
}

async function stopSshd(pidFile: string, port: number, dir: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  (await processTree(pid)).forEach(signal);
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (await accepts(port)) {
    if (Date.now() > deadline) throw new Error(`sshd (pid ${pid}) still listens on 127.0.0.1:${port}`);
    await sleep(20);
  }
  // Its sessions may still be writing their last log lines as they exit (ENOTEMPTY): rm retries.
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
}

/**
 * The listener and everything under it. Connections and the commands they run outlive the listener,
 * each in a session of its own (so no process group covers them): they are found through their parents.
 */
async function processTree(root: number): Promise<number[]> {
  const { stdout } = await execFileAsync('ps', ['-e', '-o', 'pid=,ppid=']);
  const children = new Map<number, number[]>();
  for (const line of stdout.trim().split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function readLog(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '(no log)');
}
