import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd } from './harness/sshd.js';
import { type TensorStore, writeTensorStore } from './harness/tensor-store.js';

/** Remote commands a run started, from --verbose's trace (`run <program> ...`). */
const remoteCommands = (stderr: string) => stderr.split('\n').flatMap((line) => /^ollama-push: \[\d+\] run (\S+)/.exec(line)?.[1] ?? []);

// Ollama (0.14 and later) stores a safetensors model with one tensor layer per tensor: thousands of
// blobs in one manifest. Nothing may grow a command line with their number (Linux caps one argument at
// 128 KiB: about 1,950 digests), and each blob must not cost a process.
describe('a per-tensor model of 10,000 blobs', () => {
  let work: { path: string; remove: () => Promise<void> };
  let store: TensorStore;
  const model = 'bench-tensor';

  beforeAll(async () => {
    work = await tempDir();
    store = await writeTensorStore(join(work.path, 'local'), { blobs: 10_000, minBytes: 64, maxBytes: 256 * 1024 });
  }, 300_000);
  afterAll(() => work?.remove());

  const cli = (args: string[], env?: NodeJS.ProcessEnv) => runCli([...args, '--models-dir', store.modelsDir], env ? { env } : {});

  it('pushes locally, diffs up to date, and a no-op push runs one shell with one program', async () => {
    const remote = join(work.path, 'local-remote');
    const pushed = await cli([model, '--remote-path', remote, '--mkdir']);
    expect(pushed.code, pushed.stderr.slice(-2000)).toBe(0);
    const report = await checkOllamaStore(remote);
    expect(report.problems).toEqual([]);
    expect(report.blobs).toHaveLength(10_001);
    expect((await cli(['diff', model, '--remote-path', remote, '--exit-code'])).code).toBe(0);
    const again = await cli([model, '--remote-path', remote, '--verbose']);
    expect(again.code).toBe(0);
    expect(remoteCommands(again.stderr)).toEqual(['warm', 'probe']);
  });

  it('exports and imports it', async () => {
    const archive = join(work.path, 'tensor.tar');
    expect((await cli(['export', model, '-o', archive])).code).toBe(0);
    const remote = join(work.path, 'imported');
    const imported = await runCli(['import', archive, '--remote-path', remote, '--mkdir']);
    expect(imported.code, imported.stderr.slice(-2000)).toBe(0);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
    expect((await cli(['diff', model, '--remote-path', remote, '--exit-code'])).code).toBe(0);
  });

  it.runIf(sshdAvailable())('over the real sshd: pushes, diffs up to date, and a no-op push is one connection, one shell and one program', async () => {
    const sshd = await startSshd();
    try {
      const remote = join(work.path, 'ssh-remote');
      const pushed = await cli([model, '--host', sshd.alias, '--remote-path', remote, '--mkdir'], sshd.env);
      expect(pushed.code, pushed.stderr.slice(-2000)).toBe(0);
      expect((await checkOllamaStore(remote)).problems).toEqual([]);
      expect((await cli(['diff', model, '--host', sshd.alias, '--remote-path', remote, '--exit-code'], sshd.env)).code).toBe(0);
      const again = await cli([model, '--host', sshd.alias, '--remote-path', remote, '--verbose'], sshd.env);
      expect(again.code).toBe(0);
      expect(remoteCommands(again.stderr)).toEqual(['warm', 'probe']);
    } finally {
      await sshd.stop();
    }
  });
});
