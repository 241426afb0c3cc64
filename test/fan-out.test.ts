import { execFileSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticStore } from './harness/synthetic-store.js';
import { copyFixtureStore, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

const TINY = 'registry.ollama.ai/library/tiny:latest';

function canUnshareMounts(): boolean {
  try {
    execFileSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    process.stderr.write('\n!!! unshare --mount is not allowed here: both test sshds see the same directory, so the fan-out test cannot tell their stores apart\n\n');
    return false;
  }
}

// Two real sshds. The second runs in its own mount namespace, where the shared remote path is a bind
// mount of another directory: the same path on two "hosts" holds two different stores, as on two nodes.
describe.runIf(sshdAvailable())('fan-out to several hosts', () => {
  let work: { path: string; remove: () => Promise<void> };
  let first: TestSshd;
  let second: TestSshd;
  let local: string;
  let remote: string;
  let secondDisk: string;
  const namespaces = canUnshareMounts();

  beforeAll(async () => {
    work = await tempDir();
    local = await copyFixtureStore(work.path);
    remote = join(work.path, 'pvc');
    secondDisk = join(work.path, 'second-node-disk');
    await mkdir(remote);
    await mkdir(secondDisk);
    first = await startSshd({ alias: 'node-1' });
    second = await startSshd({
      alias: 'node-2',
      ...(namespaces
        ? { launchWith: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" "$1" && shift && exec "$@"`, secondDisk, remote] }
        : {}),
    });
  });
  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await work?.remove();
  });

  /** A HOME whose SSH config and known_hosts know both nodes. */
  const env = () => ({ ...first.env, HOME: first.home });

  it('pushes to every host at once and reports each one', async () => {
    execFileSync('sh', ['-c', `cat "$0" >> "$1" && cat "$2" >> "$3"`, join(second.home, '.ssh', 'config'), join(first.home, '.ssh', 'config'), join(second.home, '.ssh', 'known_hosts'), join(first.home, '.ssh', 'known_hosts')]);
    execFileSync('cp', [second.clientKey, join(first.home, '.ssh', 'id_node2')]);
    execFileSync('sed', ['-i', 's|^Host node-2|Host node-2\\n  IdentityFile ~/.ssh/id_node2|', join(first.home, '.ssh', 'config')]);
    const result = await runCli(['tiny', '--models-dir', local, '--host', 'node-1', '--host', 'node-2', '--remote-path', remote, '--json'], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.hosts.map((h: { host: string; ok: boolean }) => [h.host, h.ok])).toEqual([['node-1', true], ['node-2', true]]);
    expect((await checkOllamaStore(remote)).models).toEqual([TINY]);
    // node-2 wrote into its own disk, through the same path.
    if (namespaces) expect(await checkOllamaStore(secondDisk)).toMatchObject({ models: [TINY], problems: [] });
  });

  // Needs the second node's own disk: on one shared directory the hosts would take turns by the blob lock.
  it.runIf(namespaces)('reads each local range once for all hosts', async () => {
    const store = await writeSyntheticStore(join(work.path, 'big'), [24]);
    const target = join(remote, 'shared-read');
    await mkdir(target);
    await mkdir(join(secondDisk, 'shared-read'));
    const result = await runCli(
      [store.models[0]!, '--models-dir', store.modelsDir, '--host', 'node-1', '--host', 'node-2', '--remote-path', target, '--range-size', '4', '--json'],
      { env: env() },
    );
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    for (const host of doc.hosts) expect(host.bytesSent).toBeGreaterThan(store.largeBlob.size);
    // Two hosts, one read: every blob came from disk once, not once per host.
    expect(doc.localBytesRead).toBe(doc.hosts[0].bytesSent);
    expect((await checkOllamaStore(target)).problems).toEqual([]);
    expect(await checkOllamaStore(join(secondDisk, 'shared-read'))).toMatchObject({ problems: [], models: ['registry.ollama.ai/library/bench-0:latest'] });
  });

  it('finishes the healthy hosts when one fails, and exits 1', async () => {
    const fresh = join(work.path, 'fresh');
    await mkdir(fresh);
    const result = await runCli(['tiny:q2', '--models-dir', local, '--host', 'node-1', '--host', '127.0.0.1:1', '--remote-path', fresh], { env: env() });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^\[node-1\] pushed tiny:q2/m);
    expect(result.stderr).toMatch(/^127\.0\.0\.1:1: FAILED: connection refused/m);
    expect((await checkOllamaStore(fresh)).models).toEqual(['registry.ollama.ai/library/tiny:q2']);
    expect(await readdir(fresh)).toContain('blobs');
  });
});
