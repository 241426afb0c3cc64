import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from './harness/tcp-proxy.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

const MiB = 1024 * 1024;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: Buffer } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    // A command that exits early closes its stdin: its exit status tells what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }));
  });
}

function ssh(sshd: TestSshd, args: readonly string[], input?: Buffer): Promise<Result> {
  return run('ssh', [...sshd.opensshArgs, ...args], { env: sshd.env, input });
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

function readAll(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (b: Buffer) => chunks.push(b));
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}

/** Resolves on 'close' (events.once would reject on the 'error' a reset connection emits first). */
function closed(socket: net.Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

async function readBytes(socket: net.Socket, count: number): Promise<void> {
  for (let received = 0; received < count; ) received += ((await once(socket, 'data')) as [Buffer])[0].length;
}

function accepts(port: number): Promise<boolean> {
  return connect(port).then(
    (socket) => {
      socket.destroy();
      return true;
    },
    () => false,
  );
}

describe('tcp proxy', () => {
  const serverSockets: net.Socket[] = [];
  const echo = net.createServer((socket) => {
    serverSockets.push(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  let echoPort: number;
  let proxy: TcpProxy | undefined;
  beforeAll(async () => {
    echoPort = await listen(echo);
  });
  afterEach(async () => {
    await proxy?.close();
  });
  afterAll(() => {
    echo.close();
    for (const socket of serverSockets) socket.destroy();
  });

  it.each([0, 5])('forwards every byte in order and counts them exactly (delay %i ms)', async (delayMs) => {
    proxy = await startTcpProxy({ targetPort: echoPort, delayMs });
    const data = randomBytes(8 * MiB);
    const socket = await connect(proxy.port);
    const echoed = readAll(socket);
    socket.end(data);
    expect((await echoed).equals(data)).toBe(true);
    expect(proxy.bytesUp).toBe(data.length);
    expect(proxy.bytesDown).toBe(data.length);
    expect(proxy.connections).toBe(1);
  }, 30_000);

  it('adds the delay in each direction to a round trip', async () => {
    proxy = await startTcpProxy({ targetPort: echoPort, delayMs: 50 });
    const socket = await connect(proxy.port);
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      socket.write('x');
      await once(socket, 'data');
      expect(performance.now() - start).toBeGreaterThanOrEqual(100);
    }
    socket.destroy();
  });

  it('keeps several chunks in flight at once instead of delaying them one after another', async () => {
    proxy = await startTcpProxy({ targetPort: echoPort, delayMs: 500 });
    const socket = await connect(proxy.port);
    const firstEcho = once(socket, 'data');
    for (let i = 0; i < 5; i++) {
      socket.write(Buffer.alloc(1000, i));
      await sleep(20);
    }
    await firstEcho;
    // Sent within 100 ms, each forwarded 500 ms later: all were on their way before the first came back.
    expect(proxy.bytesUp).toBe(5000);
    socket.destroy();
  });

  it('pauses the client when the target does not read (bounded memory)', async () => {
    const stalled = net.createServer((socket) => {
      serverSockets.push(socket);
      socket.pause();
    });
    proxy = await startTcpProxy({ targetPort: await listen(stalled) });
    const socket = await connect(proxy.port);
    const chunk = Buffer.alloc(MiB);
    let written = 0;
    while (written < 256 * MiB) {
      written += chunk.length;
      if (socket.write(chunk)) continue;
      const drained = await Promise.race([once(socket, 'drain').then(() => true), sleep(1000).then(() => false)]);
      if (!drained) break;
    }
    // 16 MiB of queue plus the kernel's socket buffers; without backpressure this reaches 256 MiB.
    expect(written).toBeLessThan(64 * MiB);
    socket.destroy();
    stalled.close();
  }, 30_000);

  it('cuts every connection after the set number of client bytes, once', async () => {
    proxy = await startTcpProxy({ targetPort: echoPort, cutAfterBytes: 100_000 });
    const first = await connect(proxy.port);
    const second = await connect(proxy.port);
    second.resume();
    first.resume();
    first.write(randomBytes(300_000));
    await Promise.all([closed(first), closed(second)]);
    expect(proxy.bytesUp).toBe(100_000);

    const third = await connect(proxy.port);
    const echoed = readAll(third);
    third.end(randomBytes(300_000));
    expect((await echoed).length).toBe(300_000);
    expect(proxy.bytesUp).toBe(400_000);
  });

  it('cutAfter counts from the moment it is armed', async () => {
    proxy = await startTcpProxy({ targetPort: echoPort });
    const socket = await connect(proxy.port);
    socket.write(randomBytes(30_000));
    await readBytes(socket, 30_000);
    proxy.cutAfter(50_000);
    socket.write(randomBytes(30_000));
    await readBytes(socket, 30_000);
    expect(socket.destroyed).toBe(false);
    socket.resume();
    socket.write(randomBytes(30_000));
    await closed(socket);
    expect(proxy.bytesUp).toBe(80_000);
  });

  it('passes an abrupt close on to the other side', async () => {
    const resetting = net.createServer((socket) => socket.on('data', () => socket.resetAndDestroy()));
    proxy = await startTcpProxy({ targetPort: await listen(resetting), delayMs: 5 });
    const socket = await connect(proxy.port);
    socket.write('ping');
    await closed(socket);
    resetting.close();

    const nothing = net.createServer();
    const port = await listen(nothing);
    await new Promise((resolve) => nothing.close(resolve));
    await proxy.close();
    proxy = await startTcpProxy({ targetPort: port });
    await closed(await connect(proxy.port));
  });

  it('cutNow destroys both sides of every connection; close stops listening', async () => {
    proxy = await startTcpProxy({ targetPort: echoPort });
    const socket = await connect(proxy.port);
    socket.write('ping');
    await once(socket, 'data');
    const target = serverSockets.at(-1)!;
    proxy.cutNow();
    await Promise.all([closed(socket), closed(target)]);
    await proxy.close();
    expect(await accepts(proxy.port)).toBe(false);
  });
});

describe.runIf(sshdAvailable())('test sshd', () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd();
  }, 30_000);
  afterAll(() => sshd?.stop());

  it('lets the real OpenSSH client in by its alias, with the temp HOME’s key and hashed known_hosts', async () => {
    const result = await ssh(sshd, [sshd.alias, 'echo ok']);
    expect(result).toMatchObject({ code: 0, stdout: 'ok\n' });
  });

  it('writes ~/.ssh/config with a ~ IdentityFile, and known_hosts for [127.0.0.1]:port and [alias]:port', async () => {
    const dotSsh = path.join(sshd.home, '.ssh');
    expect(await readFile(path.join(dotSsh, 'config'), 'utf8')).toBe(
      `Host homelab-1\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ~/.ssh/id_ed25519\n`,
    );
    expect(sshd.clientKey).toBe(path.join(dotSsh, 'id_ed25519'));
    const knownHosts = path.join(dotSsh, 'known_hosts');
    const lines = (await readFile(knownHosts, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^\|1\|\S+\|\S+ ssh-ed25519 AAAA\S+$/);
    for (const name of [`[127.0.0.1]:${sshd.port}`, `[homelab-1]:${sshd.port}`]) {
      const found = await run('ssh-keygen', ['-F', name, '-f', knownHosts]);
      expect(found.stdout).toContain(sshd.hostKeyLine);
    }
    expect(sshd.hostKeyLine).toMatch(/^ssh-ed25519 AAAA\S+$/);
  });

  it('gives an env with the temp HOME and no agent', () => {
    expect(sshd.env.HOME).toBe(sshd.home);
    expect(sshd.env).not.toHaveProperty('SSH_AUTH_SOCK');
    expect(sshd.env.PATH).toBe(process.env.PATH);
  });

  it('serves sftp', async () => {
    const result = await run('sftp', [...sshd.opensshArgs, '-b', '-', sshd.alias], { env: sshd.env, input: Buffer.from('pwd\n') });
    expect(result.code).toBe(0);
  });

  it('carries an ssh session through the proxy, with latency', async () => {
    const proxy = await startTcpProxy({ targetPort: sshd.port, delayMs: 10 });
    const data = randomBytes(4 * MiB);
    // On another port OpenSSH would look the host key up as [127.0.0.1]:proxyPort.
    const via = ['-p', String(proxy.port), '-o', `HostKeyAlias=[127.0.0.1]:${sshd.port}`, sshd.alias];
    const result = await ssh(sshd, [...via, 'sha256sum'], data);
    expect(result.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
    expect(proxy.connections).toBe(1);
    expect(proxy.bytesUp).toBeGreaterThan(data.length);
    await proxy.close();
  }, 30_000);

  it('ends an ssh session when the proxy cuts it', async () => {
    const proxy = await startTcpProxy({ targetPort: sshd.port, cutAfterBytes: MiB });
    const via = ['-p', String(proxy.port), '-o', `HostKeyAlias=[127.0.0.1]:${sshd.port}`, sshd.alias];
    const result = await ssh(sshd, [...via, 'cat > /dev/null'], randomBytes(8 * MiB));
    expect(result.code).toBe(255);
    expect(proxy.bytesUp).toBe(MiB);
    await proxy.close();
  }, 30_000);
});

describe.runIf(sshdAvailable())('startSshd', () => {
  it('honours alias, plain known_hosts and extra configs', async () => {
    const sshd = await startSshd({
      alias: 'other',
      knownHosts: 'plain',
      extraSshdConfig: 'SetEnv FROM_SSHD=yes\n',
      extraClientConfig: 'Host *\n  ServerAliveInterval 7\n',
    });
    try {
      expect(await readFile(path.join(sshd.home, '.ssh', 'known_hosts'), 'utf8')).toBe(
        `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n[other]:${sshd.port} ${sshd.hostKeyLine}\n`,
      );
      expect(await ssh(sshd, ['other', 'echo $FROM_SSHD'])).toMatchObject({ code: 0, stdout: 'yes\n' });
      expect((await ssh(sshd, ['-G', 'other'])).stdout).toContain('serveraliveinterval 7\n');
    } finally {
      await sshd.stop();
    }
  }, 30_000);

  it("writes no known_hosts for knownHosts: 'none', so OpenSSH refuses the host", async () => {
    const sshd = await startSshd({ knownHosts: 'none' });
    try {
      expect(existsSync(path.join(sshd.home, '.ssh', 'known_hosts'))).toBe(false);
      const result = await ssh(sshd, [sshd.alias, 'true']);
      expect(result.code).toBe(255);
      expect(result.stderr).toContain('Host key verification failed');
    } finally {
      await sshd.stop();
    }
  }, 30_000);

  it('runs several at once, each with its own port and dir', async () => {
    const servers = await Promise.all([startSshd(), startSshd(), startSshd()]);
    try {
      expect(new Set(servers.map((s) => s.port)).size).toBe(3);
      expect(new Set(servers.map((s) => s.dir)).size).toBe(3);
      for (const sshd of servers) expect((await ssh(sshd, [sshd.alias, 'echo ok'])).stdout).toBe('ok\n');
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  }, 30_000);

  it('stop() ends the server and the commands its sessions run, and removes its dir', async () => {
    const sshd = await startSshd();
    const session = spawn('ssh', [...sshd.opensshArgs, sshd.alias, 'echo $$; exec sleep 300'], { env: sshd.env });
    const [line] = (await once(session.stdout, 'data')) as [Buffer];
    const remotePid = line.toString().trim();
    const sessionClosed = once(session, 'close');

    await sshd.stop();
    await sshd.stop();
    expect(await accepts(sshd.port)).toBe(false);
    expect(existsSync(sshd.dir)).toBe(false);
    await sessionClosed;
    // The command gets SIGTERM; it is gone once absent or a zombie (where PID 1 does not reap orphans).
    const running = async () => /^[^Z]/.test((await run('ps', ['-o', 'stat=', '-p', remotePid])).stdout.trim());
    for (let tries = 0; (await running()) && tries < 100; tries++) await sleep(100);
    expect(await running()).toBe(false);
  }, 30_000);

  it('reports sshd’s log when sshd cannot start', async () => {
    await expect(startSshd({ extraSshdConfig: 'NoSuchOption yes\n' })).rejects.toThrow(/NoSuchOption/);
  });
});
