// The transport contract: `run` resolves with the command's own exit status, whatever it is (255 too),
// and rejects with a ConnectionLostError when the command did not run to a status (the connection or
// channel dropped, the command was killed, ssh or kubectl failed themselves). Before any command has
// run to a status the error says the destination cannot be reached and is not retryable; after, it is
// a lost connection and retryable. Every transport is held to it here: local sh, --rsh (a stand-in
// carrier and the real OpenSSH client), ssh2 through a proxy that cuts the connection, kubectl exec
// through the stand-in kubectl.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubectlExecTransport } from '../src/k8s/kubectl-exec-transport.js';
import { Kubectl } from '../src/k8s/kubectl.js';
import { CommandTransport } from '../src/transport/command-transport.js';
import { readExitStatus, reportingExitStatus } from '../src/transport/exit-status.js';
import { LocalShellTransport } from '../src/transport/local-shell.js';
import { resolveSsh } from '../src/transport/ssh/ssh-config.js';
import { SshTransport } from '../src/transport/ssh/ssh-transport.js';
import { tracingTransport } from '../src/transport/tracing-transport.js';
import { ConnectionLostError, type RunResult, type Transport } from '../src/transport/transport.js';
import { tempDir } from './harness/cli.js';
import { type FakeKubectl, installFakeKubectl } from './harness/fake-kubectl.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';
import { startTcpProxy, type TcpProxy } from './harness/tcp-proxy.js';

/** What a run ended with: its result, or the error it rejected with. */
function outcome(transport: Transport, command: string, options = {}): Promise<RunResult | unknown> {
  return transport.run(command, options).catch((error: unknown) => error);
}

/** A ConnectionLostError from before the destination was reached: final, with the transport's reason. */
function expectUnreached(error: unknown, message: RegExp): void {
  expect(error).toBeInstanceOf(ConnectionLostError);
  expect(error).toMatchObject({ side: 'transport', reached: false, retryable: false });
  expect((error as Error).message).toMatch(/^cannot reach the destination through /);
  expect((error as Error).message).toMatch(message);
}

/** A ConnectionLostError after the destination was reached: retryable. */
function expectLost(error: unknown, message: RegExp): void {
  expect(error).toBeInstanceOf(ConnectionLostError);
  expect(error).toMatchObject({ side: 'transport', reached: true, retryable: true });
  expect((error as Error).message).toMatch(/^lost the connection to /);
  expect((error as Error).message).toMatch(message);
}

const text = (result: unknown) => {
  const r = result as RunResult;
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

describe('the exit status line (exit-status.ts)', () => {
  const run = (command: string) => ({ stderr: spawnSync('sh', ['-c', reportingExitStatus(command)], { stdio: ['ignore', 'ignore', 'pipe'] }).stderr });
  const status = (command: string) => {
    const found = readExitStatus(run(command).stderr);
    return found && { code: found.code, stderr: found.stderr.toString() };
  };

  it.each([
    ['true', 0, ''],
    ['exit 3', 3, ''],
    ['echo oops >&2; exit 255', 255, 'oops'],
    ['printf "no newline" >&2', 0, 'no newline'],
    ['echo "ollama-push-exit-status 0" >&2; exit 4', 4, 'ollama-push-exit-status 0'],
    [`printf '\\nollama-push-exit-status 0\\n' >&2; exit 5`, 5, '\nollama-push-exit-status 0'],
    ['true # a comment on the last line', 0, ''],
    ['case x in x) exit 6 ;; esac', 6, ''],
    ["{ sh -c 'kill -9 $$'; } 2>/dev/null", 137, ''],
  ])('%s: status %d', (command, code, stderr) => {
    expect(status(command)).toEqual({ code, stderr });
  });

  it('is missing when the command did not run to its end, and kubectl\'s trailer after it is dropped', () => {
    // The subshell's `$$` is the wrapper's: killing it kills the line too.
    expect(status('kill -9 $$')).toBeUndefined();
    expect(readExitStatus(Buffer.from('ssh: connect to host x port 22: Connection refused\n'))).toBeUndefined();
    expect(readExitStatus(Buffer.from('oops\n\nollama-push-exit-status 3\ncommand terminated with exit code 3\n'))).toEqual({ code: 3, stderr: Buffer.from('oops') });
    expect(readExitStatus(Buffer.from('\nollama-push-exit-status 999\n'))).toBeUndefined();
  });
});

describe('LocalShellTransport', () => {
  it('reports every exit status, 255 too; a killed sh is unreachable first, a lost connection later', async () => {
    const transport = new LocalShellTransport();
    expectUnreached(await outcome(transport, 'kill -9 $$'), /through this machine: sh was killed by SIGKILL$/);
    expect(text(await outcome(transport, 'echo out; echo err >&2; exit 255'))).toEqual({ code: 255, stdout: 'out\n', stderr: 'err\n' });
    expectLost(await outcome(transport, 'kill -9 $$'), /^lost the connection to this machine: sh was killed by SIGKILL$/);
    await transport.close();
  });

  it('rejects with the abort reason when stopped, and with "closed" once closed', async () => {
    const transport = new LocalShellTransport();
    const controller = new AbortController();
    const running = outcome(transport, 'sleep 30', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('not wanted any more')), 100);
    expect(await running).toMatchObject({ message: 'not wanted any more' });
    const closing = outcome(transport, 'sleep 30');
    setTimeout(() => void transport.close(), 100);
    const closed = await closing;
    expect(closed).not.toBeInstanceOf(ConnectionLostError);
    expect(closed).toMatchObject({ message: 'the connection to this machine was closed', retryable: false });
  });
});

describe('CommandTransport (--rsh)', () => {
  let work: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    work = await tempDir('ollama-push-rsh-');
  });
  afterAll(() => work.remove());

  /** A stand-in carrier: runs its last argument with sh, as ssh's remote login shell would, until `fail` exists. */
  async function carrier(name: string, failing: string): Promise<{ rsh: string; fail: () => Promise<void> }> {
    const script = join(work.path, name);
    const flag = join(work.path, `${name}.fail`);
    await writeFile(script, `#!/bin/sh\nif [ -e '${flag}' ]; then ${failing}; fi\nfor last; do :; done\nexec sh -c "$last"\n`);
    await chmod(script, 0o755);
    return { rsh: script, fail: () => writeFile(flag, '') };
  }

  it("gives the command's 255 as its status: only the carrier's failure is a lost connection", async () => {
    const transport = new CommandTransport('sh -c');
    expect(text(await outcome(transport, 'cat; echo err >&2; exit 255', { stdin: Buffer.from('in') }))).toEqual({ code: 255, stdout: 'in', stderr: 'err' });
    await transport.close();
  });

  it('a carrier that fails like ssh (exit 255): unreachable at first, a retryable lost connection once reached', async () => {
    const refused = await carrier('refused', "echo 'ssh: connect to host homelab-1 port 22: Connection refused' >&2; exit 255");
    await refused.fail();
    expectUnreached(await outcome(new CommandTransport(refused.rsh), 'true'), /: ssh: connect to host homelab-1 port 22: Connection refused$/);

    const dropping = await carrier('dropping', "echo 'client_loop: send disconnect: Broken pipe' >&2; exit 255");
    const transport = new CommandTransport(dropping.rsh);
    expect(text(await outcome(transport, 'echo hi'))).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
    await dropping.fail();
    expectLost(await outcome(transport, 'echo hi'), /: client_loop: send disconnect: Broken pipe$/);
  });

  it('a carrier that exits 0 without running the command, or is killed, is a lost connection too', async () => {
    expectUnreached(await outcome(new CommandTransport('true'), 'echo hi'), /: true exited 0 without running the command to its end$/);
    const transport = new CommandTransport('sh -c');
    expect(text(await outcome(transport, 'true')).code).toBe(0);
    // `$$` in the command is the wrapper sh that prints the status: killing it loses the status.
    expectLost(await outcome(transport, 'kill -9 $$'), /./);
  });

  it.runIf(existsSync('/usr/bin/ssh'))('the real ssh client failing to connect: unreachable, with ssh\'s message', async () => {
    const port = await closedPort();
    const transport = new CommandTransport(`ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5 -p ${port} 127.0.0.1`);
    expectUnreached(await outcome(transport, 'true'), new RegExp(`ssh: connect to host 127\\.0\\.0\\.1 port ${port}: Connection refused$`));
  });
});

describe.runIf(sshdAvailable())('SshTransport (ssh2 through a proxy that cuts connections)', () => {
  let sshd: TestSshd;
  let proxy: TcpProxy;
  let transport: SshTransport;

  beforeAll(async () => {
    sshd = await startSshd();
    proxy = await startTcpProxy({ targetPort: sshd.port });
    const ssh = join(sshd.home, '.ssh');
    const config = await readFile(join(ssh, 'config'), 'utf8');
    await writeFile(join(ssh, 'config'), `${config}\nHost via-proxy\n  HostName 127.0.0.1\n  Port ${proxy.port}\n  User ${sshd.user}\n  IdentityFile ~/.ssh/id_ed25519\n`);
    const knownHosts = await readFile(join(ssh, 'known_hosts'), 'utf8');
    await writeFile(join(ssh, 'known_hosts'), `${knownHosts}[127.0.0.1]:${proxy.port} ${sshd.hostKeyLine}\n`);
  });
  afterAll(async () => {
    await proxy?.close();
    await sshd?.stop();
  });
  beforeEach(async () => {
    const target = await resolveSsh('via-proxy', { env: sshd.env });
    transport = new SshTransport(target, { acceptNewHostKey: false, log: () => {}, resolveHop: (hop) => resolveSsh(hop, { env: sshd.env }) });
    await transport.connect();
  });
  afterEach(() => transport.close());

  it("gives the command's 255 as its status; a command killed by a signal has none", async () => {
    expectUnreached(await outcome(transport, 'kill -9 $$'), /: the command was killed by SIGKILL$/);
    expect(text(await outcome(transport, 'echo err >&2; exit 255'))).toEqual({ code: 255, stdout: '', stderr: 'err\n' });
    expectLost(await outcome(transport, 'kill -9 $$'), /^lost the connection to ssh via-proxy: the command was killed by SIGKILL$/);
  });

  it('a connection cut while a command runs is a retryable lost connection; the next run reconnects', async () => {
    expect(text(await outcome(transport, 'true')).code).toBe(0);
    const connections = proxy.connections;
    const running = outcome(transport, 'sleep 30');
    await new Promise((resolve) => setTimeout(resolve, 300));
    proxy.cutNow();
    expectLost(await running, /^lost the connection to ssh via-proxy: /);
    expect(text(await outcome(transport, 'echo again'))).toEqual({ code: 0, stdout: 'again\n', stderr: '' });
    expect(proxy.connections).toBe(connections + 1);
  });

  it('close() ends the runs with "closed", not a lost connection', async () => {
    const running = outcome(transport, 'sleep 30');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await transport.close();
    const closed = await running;
    expect(closed).not.toBeInstanceOf(ConnectionLostError);
    expect(closed).toMatchObject({ message: 'the connection to ssh via-proxy was closed', retryable: false });
  });
});

describe('KubectlExecTransport (through the stand-in kubectl)', () => {
  let work: { path: string; remove: () => Promise<void> };
  let kubectl: FakeKubectl;
  let savedPath: string | undefined;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'store-0', namespace: 'default' },
    spec: { containers: [{ name: 'server', image: 'ollama/ollama' }] },
    status: { phase: 'Running' },
  };
  const withDrop = (drop?: { afterMs: number; message?: string }) => kubectl.setCluster({ pods: { 'default/store-0': { object: pod, ...(drop ? { drop } : {}) } } });

  beforeAll(async () => {
    work = await tempDir('ollama-push-kubectl-');
    const bin = join(work.path, 'bin');
    await mkdir(bin);
    kubectl = await installFakeKubectl(bin, {});
    savedPath = process.env.PATH;
    process.env.PATH = kubectl.env().PATH;
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await work?.remove();
  });

  it("gives the command's status (255 too) without kubectl's trailer", async () => {
    await withDrop();
    const transport = await KubectlExecTransport.open(new Kubectl(), 'default', 'store-0');
    expect(text(await outcome(transport, 'echo err >&2; exit 255'))).toEqual({ code: 255, stdout: '', stderr: 'err' });
    expect(text(await outcome(transport, 'echo ok'))).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
  });

  it('a stream that ends with kubectl exiting 0 and saying nothing (kubectl#1208) is a lost connection', async () => {
    await withDrop();
    const transport = await KubectlExecTransport.open(new Kubectl(), 'default', 'store-0');
    await withDrop({ afterMs: 300 });
    expectLost(await outcome(transport, 'sleep 30'), /^lost the connection to pod default\/store-0: kubectl exited 0: the exec stream ended before the command did$/);
  });

  it("kubectl's own error mid-stream is a lost connection with its message", async () => {
    await withDrop();
    const transport = await KubectlExecTransport.open(new Kubectl(), 'default', 'store-0');
    await withDrop({ afterMs: 300, message: 'error: error reading from error stream: websocket: close 1006 (abnormal closure): unexpected EOF' });
    expectLost(await outcome(transport, 'sleep 30'), /: error: error reading from error stream: websocket: close 1006 \(abnormal closure\): unexpected EOF$/);
  });

  it('open() turns a first exec that cannot get through into kubectl\'s reason', async () => {
    await withDrop({ afterMs: 0, message: 'error: unable to upgrade connection: Forbidden' });
    await expect(KubectlExecTransport.open(new Kubectl(), 'default', 'store-0')).rejects.toThrow(
      /^kubectl exec into pod default\/store-0 \(container server\) failed: error: unable to upgrade connection: Forbidden$/,
    );
  });
});

describe('tracingTransport (--verbose)', () => {
  it('shows a run by its label (else its first line), its status, why it has none, and one cut off by closing', async () => {
    const lines: string[] = [];
    const transport = tracingTransport(new LocalShellTransport(), (line) => lines.push(line));
    await transport.run('echo warn >&2; exit 2', { label: 'probe /srv/ollama 0' });
    await transport.run('true\n# more lines of a script');
    await transport.run('kill -9 $$').catch(() => {});
    const cutOff = transport.run('sleep 30', { label: 'warm shell, let go' }).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100));
    await transport.close();
    await cutOff;
    expect(lines).toEqual([
      '[1] run probe /srv/ollama 0',
      expect.stringMatching(/^\[1\] exit 2 after \d+ ms: warn$/),
      '[2] run true ...',
      expect.stringMatching(/^\[2\] exit 0 after \d+ ms$/),
      '[3] run kill -9 $$',
      expect.stringMatching(/^\[3\] failed after \d+ ms: lost the connection to this machine: sh was killed by SIGKILL$/),
      '[4] run warm shell, let go',
      expect.stringMatching(/^\[4\] closed with the connection after \d+ ms$/),
    ]);
  });
});

/** A TCP port on 127.0.0.1 that nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
