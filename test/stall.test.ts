import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { push } from '../src/index.js';
import { RemoteStore } from '../src/remote/remote-store.js';
import { ShStore } from '../src/remote/sh-store.js';
import { LocalShellTransport } from '../src/transport/local-shell.js';
import { StallError, StallWatch } from '../src/transport/stall-watch.js';
import { resolveSsh } from '../src/transport/ssh/ssh-config.js';
import { SshTransport } from '../src/transport/ssh/ssh-transport.js';
import { ConnectionLostError, labelOf, type RunOptions, type RunResult, type Transport } from '../src/transport/transport.js';
import { startCli, tempDir } from './harness/cli.js';
import { installFakeKubectl } from './harness/fake-kubectl.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';
import { writeSyntheticStore, type SyntheticStore } from './harness/synthetic-store.js';
import { waitFor } from './harness/wait.js';

// The stall watchdog: every process of a running push on the destination is frozen (SIGSTOP) while the
// link stays up, as a hung disk or NFS mount freezes them. The push must say so within --stall-timeout,
// drop what is stuck, and either resume and finish or stop with a clear error: never wait forever.

describe('the stall watchdog of one command (StallWatch)', () => {
  const MS = 400;
  const local = new LocalShellTransport();

  /** Runs `command` under a watch of MS: its result or error, and how long it took. */
  async function watched(transport: Transport, command: string, options: RunOptions = {}) {
    const watch = new StallWatch(transport.label, MS, 'testing');
    const started = performance.now();
    const ended: { result?: RunResult; error?: unknown } = await transport.run(command, watch.watching(options)).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    watch.stop();
    return { ...ended, ms: performance.now() - started };
  }

  async function* chunks(count: number, gapMs: number) {
    for (let i = 0; i < count; i++) {
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      yield Buffer.alloc(64 * 1024, i);
    }
  }

  it('drops a command that never answers at once, with a retryable error naming the destination and the wait', async () => {
    const { error, ms } = await watched(local, 'sleep 5');
    expect(error).toBeInstanceOf(StallError);
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect(error).toMatchObject({ retryable: true, side: 'transport' });
    expect((error as Error).message).toBe('no progress from this machine for 0.4 s while testing (a stuck disk or process there? --stall-timeout sets how long to wait)');
    expect(ms).toBeLessThan(MS + 1500);
  });

  it('drops a command that takes none of its stdin', async () => {
    const { error, ms } = await watched(local, 'sleep 5; cat >/dev/null', { stdin: Readable.from(chunks(256, 0)) });
    expect(error).toBeInstanceOf(StallError);
    expect(ms).toBeLessThan(MS + 1500);
  });

  it('keeps a command that shows signs of life (empty lines on stderr) as long as it takes', async () => {
    const { result, ms } = await watched(local, 'for i in 1 2 3 4 5 6 7 8 9 10; do echo >&2; sleep 0.1; done; echo done');
    expect(result?.stdout.toString()).toBe('done\n');
    expect(ms).toBeGreaterThan(MS);
  });

  it('does not blame the destination for waiting on us (a slow source)', async () => {
    const { result, ms } = await watched(local, 'cat | wc -c', { stdin: Readable.from(chunks(3, MS + 200)) });
    expect(result?.stdout.toString().trim()).toBe(String(3 * 64 * 1024));
    expect(ms).toBeGreaterThan(3 * MS);
  });

  it.runIf(sshdAvailable())('over SSH drops the connection (sshd closes no channel of a stuck command); the next run connects again', async () => {
    const sshd = await startSshd();
    const target = await resolveSsh(sshd.alias, { env: sshd.env });
    const ssh = new SshTransport(target, { acceptNewHostKey: false, log: () => {}, resolveHop: (hop) => resolveSsh(hop, { env: sshd.env }) });
    try {
      const client = async () => (await ssh.run('echo "$SSH_CONNECTION"')).stdout.toString().split(' ')[1];
      const before = await client();
      const { error, ms } = await watched(ssh, 'sleep 5');
      expect(error).toBeInstanceOf(StallError);
      expect((error as Error).message).toMatch(/^no progress from ssh homelab-1 for 0\.4 s while testing/);
      expect(ms).toBeLessThan(MS + 1500);
      const after = await client();
      expect(after).not.toBe(before);
    } finally {
      await ssh.close();
      await sshd.stop();
    }
  });
});

describe('the hash follower (once the ranges are written, the watchdog waits for its answer)', () => {
  it('answers: the destination hashes the blob as it lands and stores it, with no commit command', async () => {
    const work = await tempDir();
    const labels: (() => string)[] = [];
    const inner = new LocalShellTransport();
    const spy: Transport = {
      label: inner.label,
      maxParallel: inner.maxParallel,
      run: (command, options) => {
        labels.push(() => labelOf(options) ?? '');
        return inner.run(command, options);
      },
      // The programs a shell runs in turn.
      traceProgram: (label) => {
        labels.push(() => label);
        return () => {};
      },
      close: () => inner.close(),
    };
    const destination = new ShStore(new RemoteStore(spy, { path: join(work.path, 'remote') }));
    try {
      const store = await writeSyntheticStore(join(work.path, 'local'), [16]);
      // Held to 16 MiB/s: a local push can otherwise write every range before the follower has started,
      // and then the blob is committed instead (the fallback, not what this test is about).
      await push({ models: [store.models[0]!], modelsDir: store.modelsDir, destination, rangeSize: 4 * 1024 * 1024, createRemotePath: true, bandwidthLimit: '16M' });
      const ran = labels.map((label) => label().replace(/^warm shell: /, ''));
      expect(ran.some((label) => label.startsWith('hash-follow '))).toBe(true);
      expect(ran.filter((label) => label.startsWith('commit-blob '))).toEqual([]);
      expect(readFileSync(join(work.path, 'remote', 'blobs', `sha256-${store.largeBlob.hex}`)).length).toBe(16 * 1024 * 1024);
    } finally {
      await destination.close();
      await work.remove();
    }
  });
});

const STALL_S = 3;
/** On top of the watchdog's time: the retry, a loaded CI machine. */
const SLACK_MS = 4000;
const BLOB_MIB = 48;

/** The destination programs get the remote path as an argument; the CLI (which has it too) is left alone. */
function destinationPids(remote: string, cli: number): number[] {
  const found = spawnSync('pgrep', ['-f', '--', remote]);
  return found.stdout
    .toString()
    .split('\n')
    .map(Number)
    .filter((pid) => pid > 0 && pid !== cli && pid !== process.pid);
}

function signal(pids: Iterable<number>, name: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, name);
    } catch {
      // gone already
    }
  }
}

async function staged(remote: string): Promise<number> {
  const staging = join(remote, '.ollama-push');
  const dirs = await readdir(staging).catch(() => []);
  const files = await Promise.all(dirs.filter((d) => !d.endsWith('.lock')).map((d) => readdir(join(staging, d)).catch(() => [])));
  return files.flat().filter((f) => f.startsWith('done.')).length;
}

interface Opened {
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
  /** The --remote-path for a push named `name`, and where that is on this machine. */
  readonly remote: (name: string) => { arg: string; local: string };
  readonly close: () => Promise<void>;
}

interface Destination {
  readonly name: string;
  /** How messages name it. */
  readonly label: string;
  readonly available: () => boolean;
  readonly open: (work: string) => Promise<Opened>;
}

const here = (work: string) => (name: string) => ({ arg: join(work, name), local: join(work, name) });

const destinations: Destination[] = [
  { name: 'a local dir', label: 'this machine', available: () => true, open: async (work) => ({ args: [], env: process.env, remote: here(work), close: async () => {} }) },
  {
    name: 'ssh (a real sshd on loopback)',
    label: 'ssh homelab-1',
    available: sshdAvailable,
    open: async (work) => {
      const sshd: TestSshd = await startSshd();
      return { args: ['--host', sshd.alias], env: sshd.env, remote: here(work), close: () => sshd.stop() };
    },
  },
  {
    // The stand-in kubectl runs the commands here, /root/.ollama in the pod being a temp dir: what is
    // frozen are the commands, not kubectl, as with a stuck process in a pod.
    name: 'kubectl exec (stand-in kubectl)',
    label: 'pod default/ollama-0',
    available: () => true,
    open: async (work) => {
      const bin = join(work, 'bin');
      await mkdir(bin);
      const podRoot = join(work, 'pod-root-.ollama');
      const object = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'ollama-0', namespace: 'default' },
        spec: { containers: [{ name: 'ollama', image: 'ollama/ollama', volumeMounts: [{ mountPath: '/root/.ollama', name: 'models' }] }] },
        status: { phase: 'Running' },
      };
      const kubectl = await installFakeKubectl(bin, { namespace: 'default', pods: { 'default/ollama-0': { object, mounts: { '/root/.ollama': podRoot } } } });
      return {
        args: ['--pod', 'default/ollama-0'],
        env: kubectl.env(),
        remote: (name) => ({ arg: `/root/.ollama/${name}`, local: join(podRoot, name) }),
        close: async () => {},
      };
    },
  },
];

describe.each(destinations)('a destination whose processes are frozen with the link up: $name', ({ label, available, open }) => {
  let work: { path: string; remove: () => Promise<void> };
  let store: SyntheticStore;
  let destination: Opened;
  let remote: string;
  /** Every process frozen by a test, killed after it. */
  const frozen = new Set<number>();

  beforeAll(async () => {
    if (!available()) return;
    work = await tempDir();
    store = await writeSyntheticStore(join(work.path, 'local'), [BLOB_MIB]);
    destination = await open(work.path);
  });
  afterAll(async () => {
    await destination?.close();
    await work?.remove();
  });
  afterEach(() => {
    // Only those still there (a pid that ended may be another process's by now).
    const left = destinationPids(remote, 0).filter((pid) => frozen.has(pid));
    signal(left, 'SIGKILL');
    signal(left, 'SIGCONT');
    frozen.clear();
  });

  const startPush = (name: string, extra: string[]) => {
    const { arg, local } = destination.remote(name);
    remote = local;
    const args = [store.models[0]!, '--models-dir', store.modelsDir, '--remote-path', arg, '--mkdir', ...destination.args];
    return startCli([...args, '--range-size', '4', '--jobs', '2', '--stall-timeout', String(STALL_S), ...extra], { env: destination.env });
  };
  const freeze = (cli: number) => {
    const pids = destinationPids(remote, cli);
    for (const pid of pids) frozen.add(pid);
    signal(pids, 'SIGSTOP');
    return pids.length;
  };
  const noticed = new RegExp(`no progress from ${label} for ${STALL_S} s while [^\\n]+ \\(a stuck disk or process there\\?`);

  it.runIf(available())('says so within --stall-timeout, drops what is stuck, and resumes to the end', async () => {
    const run = startPush('resumes', ['--bwlimit', '8M', '--retries', '3']);
    let stderr = '';
    run.child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor('a staged piece', async () => (await staged(remote)) >= 1);
    await waitFor('the destination programs', () => freeze(run.child.pid!) > 0);
    const frozenAt = Date.now();
    await waitFor('the stall notice', () => noticed.test(stderr), STALL_S * 1000 + SLACK_MS);
    expect(Date.now() - frozenAt).toBeLessThan(STALL_S * 1000 + SLACK_MS);
    // What is stuck is dropped (killed here and by kubectl; over SSH left frozen with its connection): the
    // push resumes with fresh commands.
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`connection problem \\(${noticed.source}`));
    const report = await checkOllamaStore(remote);
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual(['registry.ollama.ai/library/bench-0:latest']);
  });

  it.runIf(available())('stops with a clear error, exit 1, when the destination stays stuck past --retries', async () => {
    const run = startPush('stuck', ['--bwlimit', '8M', '--retries', '1']);
    await waitFor('a staged piece', async () => (await staged(remote)) >= 1);
    const startedAt = Date.now();
    // Everything the push starts there is frozen, the commands of its retry too.
    let stuck = true;
    const freezing = (async () => {
      while (stuck) {
        freeze(run.child.pid!);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const result = await run.done;
    stuck = false;
    await freezing;
    expect(result.code).toBe(1);
    // Two stalls (the first attempt and its one retry), each said once, and nothing after the second.
    expect(result.stderr).toMatch(new RegExp(`connection problem \\(${noticed.source}[^\\n]*\\); retry 1`));
    const last = result.stderr.trim().split('\n').pop()!;
    expect(last).toMatch(new RegExp(`^ollama-push: ${noticed.source}`));
    expect(Date.now() - startedAt).toBeLessThan(2 * (STALL_S * 1000 + SLACK_MS));
  });
});
