import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { appendFile, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeSyntheticStore, type SyntheticStore } from './harness/synthetic-store.js';
import { startTcpProxy, type TcpProxy } from './harness/tcp-proxy.js';
import { runCli, startCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';
import { waitFor } from './harness/wait.js';

const MiB = 1024 * 1024;
const BLOB_MIB = 48;

/** The staged ranges of every blob on the destination, as the tool leaves them. */
async function stagedRanges(modelsDir: string): Promise<string[]> {
  const staging = join(modelsDir, '.ollama-push');
  const dirs = await readdir(staging).catch(() => []);
  const ranges = await Promise.all(dirs.filter((d) => !d.endsWith('.lock')).map((d) => readdir(join(staging, d)).catch(() => [])));
  return ranges.flat().filter((f) => f.startsWith('done.'));
}

const stagedBytes = (ranges: string[]) =>
  ranges.map((r) => r.slice(5).split('-').map(Number)).reduce((sum, [a, b]) => sum + (b! - a!), 0);

describe('faults on a local destination', () => {
  let work: { path: string; remove: () => Promise<void> };
  let store: SyntheticStore;
  let remote: string;
  const args = () => [store.models[0]!, '--models-dir', store.modelsDir, '--remote-path', remote];

  beforeEach(async () => {
    work = await tempDir();
    store = await writeSyntheticStore(join(work.path, 'local'), [BLOB_MIB]);
    remote = join(work.path, 'remote');
    await mkdir(remote);
  });
  afterEach(() => work.remove());

  it('stops on Ctrl-C with exit 130, keeps what was staged, and the next run resumes', async () => {
    const run = startCli([...args(), '--bwlimit', '16M', '--range-size', '4', '--jobs', '2']);
    await waitFor('a staged range', async () => (await stagedRanges(remote)).length >= 2);
    run.child.kill('SIGINT');
    const interrupted = await run.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/interrupted.*run the same command again to resume/);
    const kept = stagedBytes(await stagedRanges(remote));
    expect(kept).toBeGreaterThanOrEqual(8 * MiB);
    expect((await checkOllamaStore(remote, { allowUnreferenced: true })).problems).toEqual([]);
    expect((await checkOllamaStore(remote)).models).toEqual([]);

    const toSend = await bytesToSend(args());
    expect(toSend).toBeLessThanOrEqual(store.largeBlob.size - kept);
    const resumed = await runCli([...args(), '--json', '--range-size', '4']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).bytesSent).toBe(toSend);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });

  it('re-sends only a staged range that was damaged since', async () => {
    const blob = store.largeBlob;
    const staging = join(remote, '.ollama-push', `sha256-${blob.hex}`);
    await mkdir(staging, { recursive: true });
    const content = await readFile(blob.path);
    const staged = Buffer.from(content.subarray(0, 16 * MiB));
    staged[5 * MiB] ^= 0x55;
    await writeFile(join(staging, 'data'), staged);
    for (const start of [0, 8]) await writeFile(join(staging, `done.${start * MiB}-${(start + 8) * MiB}`), '');
    const result = await runCli([...args(), '--json', '--range-size', '8']);
    expect(result.code, result.stderr).toBe(0);
    // The damaged first range is sent again; the intact second one is kept.
    const small = store.bytes - store.largeBlob.size - (await readFile(join(store.modelsDir, 'manifests/registry.ollama.ai/library/bench-0/latest'))).length;
    expect(JSON.parse(result.stdout).bytesSent, result.stderr).toBe(store.largeBlob.size - 8 * MiB + small);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });

  it('publishes a model in one step: none of its blobs is in blobs/ before its manifest goes', async () => {
    const run = startCli([...args(), '--bwlimit', '16M', '--range-size', '4', '--jobs', '2']);
    const verified = join(remote, '.ollama-push', 'verified');
    // The small blobs are verified first; the large one is still on its way.
    await waitFor('verified blobs waiting in the staging', async () => (await readdir(verified).catch(() => [])).length >= 4);
    expect(await readdir(join(remote, 'blobs')).catch(() => [])).toEqual([]);
    expect((await checkOllamaStore(remote)).models).toEqual([]);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const report = await checkOllamaStore(remote);
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual(['registry.ollama.ai/library/bench-0:latest']);
    expect(await readdir(join(remote, '.ollama-push'))).toEqual([]);
  });

  it('lets two pushes of the same model run at once, both succeeding', async () => {
    const [a, b] = await Promise.all([
      runCli([...args(), '--range-size', '2', '--bwlimit', '64M']),
      runCli([...args(), '--range-size', '2', '--bwlimit', '64M']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const report = await checkOllamaStore(remote);
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual(['registry.ollama.ai/library/bench-0:latest']);
  });

  it('gives published blobs a fresh mtime, so a restarting Ollama does not prune them as old', async () => {
    await utimes(store.largeBlob.path, new Date('2001-01-01'), new Date('2001-01-01'));
    const result = await runCli(args());
    expect(result.code, result.stderr).toBe(0);
    const published = await stat(join(remote, 'blobs', `sha256-${store.largeBlob.hex}`));
    expect(Date.now() - published.mtimeMs).toBeLessThan(10 * 60 * 1000);
  });

  it('refuses hostile manifests and names before writing anything', async () => {
    const manifest = join(store.modelsDir, 'manifests', 'registry.ollama.ai', 'library', 'bench-0', 'latest');
    const good = await readFile(manifest, 'utf8');
    const cases: [string, string][] = [
      [good.replace(/"digest":"sha256:[0-9a-f]{64}"/, '"digest":"sha256:../../../etc/passwd"'), 'invalid digest'],
      [good.replace(/"digest":"sha256:[0-9a-f]{64}"/, `"digest":"sha256:${'a'.repeat(63)}"`), 'invalid digest'],
      ['{"schemaVersion": 2, "layers": [', 'not JSON'],
    ];
    for (const [text, why] of cases) {
      await writeFile(manifest, text);
      const result = await runCli(args());
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(why);
      expect(result.stderr).toContain(manifest);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    for (const name of ['../../etc:passwd', 'a/b/c/d', 'bench-0:tag with space']) {
      const result = await runCli([name, '--models-dir', store.modelsDir, '--remote-path', remote]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/invalid model name/);
    }
    expect(await readdir(remote)).toEqual([]);
  });
});

/** What `push --dry-run` says a push with these arguments would send. */
async function bytesToSend(pushArgs: string[]): Promise<number> {
  const diff = await runCli([...pushArgs, '--dry-run', '--json']);
  expect(diff.code, diff.stderr).toBe(0);
  return JSON.parse(diff.stdout).bytesToSend;
}

/** Processes of this machine whose command line names the remote path (the destination programs get it as an argument). */
function destinationProcesses(remotePath: string): string[] {
  const found = spawnSync('pgrep', ['-f', '-a', '--', remotePath]);
  return found.stdout.toString().split('\n').filter((line) => line.trim() !== '' && !line.includes('pgrep'));
}

/** The full-disk cases need to mount a small tmpfs (root, and a kernel that lets us); said loudly when not. */
function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'ollama-push-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    process.stderr.write('\n!!! cannot mount a tmpfs here (not root, or no mount permission): the full-disk tests are SKIPPED\n\n');
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

describe.runIf(canMountTmpfs())('a full disk (a tmpfs mounted as the remote path)', () => {
  let work: { path: string; remove: () => Promise<void> };
  let store: SyntheticStore;
  let remote: string;

  beforeAll(async () => {
    work = await tempDir();
    store = await writeSyntheticStore(join(work.path, 'local'), [BLOB_MIB]);
    remote = join(work.path, 'small-disk');
    await mkdir(remote);
  });
  afterEach(() => {
    try {
      execFileSync('umount', [remote]);
    } catch {
      // not mounted
    }
  });
  afterAll(() => work.remove());

  it('refuses up front when the disk is too small, naming the sizes', async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', remote]);
    const result = await runCli([store.models[0]!, '--models-dir', store.modelsDir, '--remote-path', remote]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ollama-push: not enough space: needs 50\.\d MB in .*small-disk on this machine, 8\.4 MB free/);
    expect(await readdir(remote)).toEqual([]);
  });

  it('fails clearly when the disk fills anyway, publishes nothing, and resumes once there is room', async () => {
    // Room for the bytes but not for many files: df sees space, and a later file creation fails with ENOSPC.
    // Inodes for the dirs, the 4 small blobs, the big blob's lock, staging and a few range markers.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m,nr_inodes=14', 'tmpfs', remote]);
    const args = [store.models[0]!, '--models-dir', store.modelsDir, '--remote-path', remote, '--range-size', '4', '--jobs', '1'];
    const full = await runCli(args);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/^ollama-push: destination disk is full .*run again to resume/m);
    expect(full.stderr.trim().split('\n').filter((l) => l.startsWith('ollama-push:'))).toHaveLength(1);
    expect((await checkOllamaStore(remote)).models).toEqual([]);
    const kept = stagedBytes(await stagedRanges(remote));
    expect(kept).toBeGreaterThan(0);

    execFileSync('mount', ['-o', 'remount,nr_inodes=1000', remote]);
    const toSend = await bytesToSend(args);
    expect(toSend).toBeLessThanOrEqual(store.largeBlob.size - kept);
    const resumed = await runCli([...args, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).bytesSent).toBe(toSend);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });
});

describe.runIf(sshdAvailable())('faults on the network (a proxy between ssh2 and sshd)', () => {
  let sshd: TestSshd;
  let proxy: TcpProxy;
  let work: { path: string; remove: () => Promise<void> };
  let store: SyntheticStore;
  let remote: string;

  beforeAll(async () => {
    sshd = await startSshd();
    proxy = await startTcpProxy({ targetPort: sshd.port });
    // An alias that reaches sshd through the proxy; the host key is recorded under the proxy's address.
    const ssh = join(sshd.home, '.ssh');
    await writeFile(join(ssh, 'config'), `${await readFile(join(ssh, 'config'), 'utf8')}
Host via-proxy
  HostName 127.0.0.1
  Port ${proxy.port}
  User ${sshd.user}
  IdentityFile ~/.ssh/id_ed25519
`);
    await writeFile(join(ssh, 'known_hosts'), `${await readFile(join(ssh, 'known_hosts'), 'utf8')}[127.0.0.1]:${proxy.port} ${sshd.hostKeyLine}\n`);
    work = await tempDir();
    store = await writeSyntheticStore(join(work.path, 'local'), [BLOB_MIB]);
  });
  afterAll(async () => {
    await proxy?.close();
    await sshd?.stop();
    await work?.remove();
  });
  beforeEach(async () => {
    remote = join(work.path, `remote-${Date.now()}`);
    await mkdir(remote);
  });

  const args = (rangeMiB = 4) => [store.models[0]!, '--models-dir', store.modelsDir, '--host', 'via-proxy', '--remote-path', remote, '--range-size', String(rangeMiB)];

  it('reconnects after the connection drops and resumes, in the same run', async () => {
    const before = proxy.bytesUp;
    const connections = proxy.connections;
    proxy.cutAfter(20 * MiB);
    const result = await runCli([...args(), '--json'], { env: sshd.env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/retry 1/);
    expect(proxy.connections - connections).toBeGreaterThanOrEqual(2);
    // Resumed, not restarted: at most the ranges in flight at the cut cross twice.
    expect(proxy.bytesUp - before).toBeLessThan(store.bytes + 20 * MiB);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
    expect((await checkOllamaStore(remote)).models).toHaveLength(1);
  });

  it('retries a reconnect that is refused for a while (the host\'s sshd restarting), and resumes in the same run', async () => {
    const start = proxy.bytesUp;
    const run = startCli([...args(), '--bwlimit', '16M'], { env: sshd.env });
    await waitFor('8 MiB sent', async () => proxy.bytesUp - start >= 8 * MiB);
    proxy.refuseFor(2500);
    proxy.cutNow();
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/connection problem \(connection refused by 127\.0\.0\.1:\d+ on reconnecting; is its sshd restarting\?\); retry 2 in /);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
    expect((await checkOllamaStore(remote)).models).toHaveLength(1);
  });

  it('leaves a valid store after kill -9 inside its ranges, and the next run sends about the missing bytes', async () => {
    // Two ranges of 24 MiB, killed when about 7 MiB of each have crossed: what landed is kept though no range ended.
    const start = proxy.bytesUp;
    const run = startCli([...args(64), '--bwlimit', '16M', '--jobs', '2'], { env: sshd.env });
    await waitFor('14 MiB sent', async () => proxy.bytesUp - start >= 14 * MiB);
    expect(await stagedRanges(remote)).toEqual([]);
    run.child.kill('SIGKILL');
    await run.done;
    // Nothing of the push outlives it on the destination (a hash follower used to wait for 2 minutes).
    await waitFor('the destination programs to end', async () => destinationProcesses(remote).length === 0).catch((error: Error) => {
      const pids = destinationProcesses(remote).map((line) => line.split(' ')[0]).join(',');
      const ps = spawnSync('sh', ['-c', `ps -o pid,ppid,stat,wchan:20,args -p ${pids} --ppid ${pids} | cut -c1-120`]).stdout.toString();
      throw new Error(`${error.message}; still running:\n${ps}`);
    });
    const report = await checkOllamaStore(remote, { allowUnreferenced: true });
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual([]);
    const kept = stagedBytes(await stagedRanges(remote));
    expect(kept).toBeGreaterThanOrEqual(10 * MiB);

    const before = proxy.bytesUp;
    const resumed = await runCli([...args(), '--json'], { env: sshd.env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const crossed = proxy.bytesUp - before;
    expect(crossed).toBeLessThan(store.bytes - kept + 2 * MiB);
    expect(crossed).toBeGreaterThan(store.bytes - kept);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });

  it('exits once its work is done, without waiting for the server to close its side of the connection', async () => {
    // A proxy that never passes the server's close on: a client waiting for it would never exit.
    const held = await startTcpProxy({ targetPort: sshd.port, passServerClose: false });
    const ssh = join(sshd.home, '.ssh');
    try {
      await appendFile(join(ssh, 'config'), `Host held-open\n  HostName 127.0.0.1\n  Port ${held.port}\n  User ${sshd.user}\n  IdentityFile ~/.ssh/id_ed25519\n`);
      await appendFile(join(ssh, 'known_hosts'), `[127.0.0.1]:${held.port} ${sshd.hostKeyLine}\n`);
      const heldArgs = args().map((a) => (a === 'via-proxy' ? 'held-open' : a));
      const pushed = await runCli(heldArgs, { env: sshd.env });
      expect(pushed.code, pushed.stderr).toBe(0);
      const noop = await runCli(heldArgs, { env: sshd.env });
      expect(noop.code, noop.stderr).toBe(0);
      expect(held.connections).toBe(2);
      expect((await checkOllamaStore(remote)).models).toHaveLength(1);
    } finally {
      await held.close();
    }
  }, 60_000);
});
