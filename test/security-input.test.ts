import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PushError } from '../src/errors.js';
import { LOCK_WAIT_LIMIT_MS, takeBlobLock } from '../src/remote/blob-lock.js';
import type { RemoteStore } from '../src/remote/remote-store.js';
import { parseDigest } from '../src/store/digest.js';
import { type BlobPlan, planBlob, type TransferPlan } from '../src/transfer/plan.js';
import { checkFreeSpace } from '../src/transfer/push.js';
import { TOTAL_RETRIES_PER_RETRY, withRetries } from '../src/transfer/retry.js';
import { copyFixtureStore, runCli, startCli, tempDir, type CliResult } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { writeSyntheticStore } from './harness/synthetic-store.js';
import { waitFor } from './harness/wait.js';

const MiB = 1024 * 1024;
/** The model blob of the fixture `tiny:latest` (3 MB: sent in ranges) and its config (small: sent with the small blobs). */
const TINY_MODEL_BLOB = 'a80b1352655ad6c79f883323be95c213bb5b89368e62a284dff823508f075cda';
const TINY_CONFIG_BLOB = '5e7013c3007c87e9fe1036c9774fbef57dbbed42dbfc8f5d2e3c1a2389ac315b';

/** The lines the CLI printed as its error: exactly one is expected, and no stack trace. */
function errorLines(result: CliResult): string[] {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  return result.stderr.split('\n').filter((line) => line.startsWith('ollama-push:'));
}

/** What must not change: a file's content, mode, owner and mtime. */
async function snapshot(path: string) {
  const info = await lstat(path);
  return { content: await readFile(path), mode: info.mode, mtimeMs: info.mtimeMs, uid: info.uid, gid: info.gid };
}

describe('hostile input', () => {
  let work: { path: string; remove: () => Promise<void> };
  let local: string;
  let remote: string;
  beforeEach(async () => {
    work = await tempDir();
    local = await copyFixtureStore(work.path);
    remote = join(work.path, 'remote');
    await mkdir(remote);
  });
  afterEach(() => work.remove());

  describe('a flag that takes one value, given twice', () => {
    it.each([
      ['--remote-path', ['--remote-path', 'A', '--remote-path', 'B']],
      ['--login', ['--remote-path', 'A', '--login', 'a', '--login', 'b']],
      ['--login', ['--remote-path', 'A', '-l', 'a', '--login', 'b']],
      ['--port', ['--remote-path', 'A', '--port', '22', '--port', '2222']],
      ['--models-dir', ['--remote-path', 'A', '--models-dir', 'x']],
    ])('%s is a one-line usage error (exit 2) that names the flag, and nothing is written', async (flag, args) => {
      const a = join(work.path, 'a');
      const b = join(work.path, 'b');
      const words = args.map((word) => (word === 'A' ? a : word === 'B' ? b : word));
      const result = await runCli(['tiny', '--models-dir', local, ...words, '--mkdir']);
      expect(result.code).toBe(2);
      expect(errorLines(result)).toEqual([expect.stringMatching(new RegExp(`^ollama-push: ${flag} given 2 times .*give it once`))]);
      expect(existsSync(a) || existsSync(b)).toBe(false);
    });

    it('export -o given twice names --output', async () => {
      const result = await runCli(['export', 'tiny', '--models-dir', local, '-o', join(work.path, 'a.tar'), '-o', join(work.path, 'b.tar')]);
      expect(result.code).toBe(2);
      expect(errorLines(result)).toEqual([expect.stringMatching(/^ollama-push: --output given 2 times/)]);
      expect((await readdir(work.path)).sort()).toEqual(['local-models', 'remote']);
    });

    it('--host may repeat', async () => {
      const result = await runCli(['diff', 'tiny', '--models-dir', local, '--host', 'a', '--host', 'b']);
      expect(result.code).toBe(2);
      expect(errorLines(result)).toEqual(['ollama-push: diff compares with one destination at a time; give one --host']);
    });
  });

  describe('export -o FILE where FILE.partial was planted', () => {
    const exportTo = (archive: string) => runCli(['export', 'tiny', '--models-dir', local, '-o', archive]);

    it('never writes through a symlink at FILE.partial: the file it points to is unchanged', async () => {
      const victim = join(work.path, 'victim');
      await writeFile(victim, 'precious\n', { mode: 0o600 });
      const before = await snapshot(victim);
      const archive = join(work.path, 'models.tar');
      await symlink(victim, `${archive}.partial`);

      const result = await exportTo(archive);
      expect(result.code).toBe(1);
      expect(errorLines(result)).toEqual([`ollama-push: ${archive}.partial already exists (another export writing it, or one that was killed); remove it and export again`]);
      expect(await snapshot(victim)).toEqual(before);
      expect(await readlink(`${archive}.partial`)).toBe(victim);
      expect(existsSync(archive)).toBe(false);
    });

    it('never creates the target of a dangling symlink at FILE.partial', async () => {
      const target = join(work.path, 'elsewhere');
      const archive = join(work.path, 'models.tar');
      await symlink(target, `${archive}.partial`);
      const result = await exportTo(archive);
      expect(result.code).toBe(1);
      expect(existsSync(target)).toBe(false);
    });

    it('leaves a leftover FILE.partial alone and says to remove it; the export works once it is gone', async () => {
      const archive = join(work.path, 'models.tar');
      await writeFile(`${archive}.partial`, 'left by a killed export');
      const refused = await exportTo(archive);
      expect(refused.code).toBe(1);
      expect(errorLines(refused)).toEqual([expect.stringMatching(/models\.tar\.partial already exists .*remove it and export again$/)]);
      expect(await readFile(`${archive}.partial`, 'utf8')).toBe('left by a killed export');

      rmSync(`${archive}.partial`);
      const exported = await exportTo(archive);
      expect(exported.code, exported.stderr).toBe(0);
      expect(existsSync(`${archive}.partial`)).toBe(false);
    });
  });

  describe('a directory where a blob should be on the destination', () => {
    it.each([
      ['a blob sent in ranges', TINY_MODEL_BLOB],
      ['a small blob', TINY_CONFIG_BLOB],
    ])('%s: the push ends soon with one line about it, and publishes nothing', async (_, hex) => {
      await mkdir(join(remote, 'blobs', `sha256-${hex}`), { recursive: true });
      const run = startCli(['tiny', '--models-dir', local, '--remote-path', remote]);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
      const result = await run.done.finally(() => clearTimeout(timer));
      expect(result.signal, 'still running after 30 s').toBeNull();
      expect(result.code).not.toBe(0);
      const lines = errorLines(result);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`${hex}|blobs/sha256-`));
      expect(existsSync(join(remote, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest'))).toBe(false);
    }, 60_000);
  });

  describe('a manifest that lists one digest with two sizes', () => {
    it('is refused with one line naming the model and the digest, and nothing is published', async () => {
      const path = join(local, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest');
      const manifest = JSON.parse(await readFile(path, 'utf8'));
      const model = manifest.layers[0];
      manifest.layers.push({ ...model, size: model.size + 1 });
      await writeFile(path, JSON.stringify(manifest));

      const result = await runCli(['tiny', '--models-dir', local, '--remote-path', remote]);
      expect(result.code).not.toBe(0);
      expect(errorLines(result)).toEqual([
        expect.stringMatching(new RegExp(`^ollama-push: invalid manifest .*library/tiny/latest: ${model.digest} is listed with two sizes`)),
      ]);
      expect(await readdir(remote)).toEqual([]);
    });
  });
});

describe('retry loops have an overall bound', () => {
  const retryable = () => new PushError('blob sha256:x disappeared; run again', { side: 'remote', retryable: true });

  it('withRetries gives up after retries x TOTAL_RETRIES_PER_RETRY in all, even when every attempt made progress', async () => {
    let attempts = 0;
    let progress = 0;
    const run = withRetries(
      async () => {
        attempts += 1;
        progress += 1;
        throw retryable();
      },
      { retries: 2, progress: () => progress, delaysMs: [0] },
    );
    await expect(run).rejects.toThrow(/^gave up after 20 retries in all; the last error: blob sha256:x disappeared/);
    expect(attempts).toBe(2 * TOTAL_RETRIES_PER_RETRY + 1);
    await expect(run).rejects.toMatchObject({ retryable: false });
  });

  it('withRetries still stops after `retries` failures in a row without progress', async () => {
    let attempts = 0;
    const run = withRetries(
      async () => {
        attempts += 1;
        throw retryable();
      },
      { retries: 3, progress: () => 0, delaysMs: [0] },
    );
    await expect(run).rejects.toThrow(/^blob sha256:x disappeared/);
    expect(attempts).toBe(4);
  });

  it('takeBlobLock stops waiting for another run after LOCK_WAIT_LIMIT_MS', async () => {
    const remote = { where: '/models on node-1', takeLock: async () => ({ busy: 'other-host 42 run' }) } as unknown as RemoteStore;
    const blob = planBlob({ digest: { hex: 'c'.repeat(64) }, size: 10, mediaType: 'm' }, undefined, ['m:latest'], MiB);
    const start = Date.now();
    vi.spyOn(Date, 'now').mockReturnValueOnce(start).mockReturnValue(start + LOCK_WAIT_LIMIT_MS + 1);
    try {
      await expect(takeBlobLock(remote, blob, { owner: 'me 1 run' }, undefined)).rejects.toThrow(
        `blob sha256:${'c'.repeat(64)} is still locked in /models on node-1 by another push (other-host 42 run) after 60 minutes; run again once that push is done`,
      );
    } finally {
      vi.restoreAllMocks();
    }
  });
});

describe('the free-space check', () => {
  const descriptor = (hexDigit: string, size: number) => ({ digest: parseDigest(`sha256:${hexDigit.repeat(64)}`, 'test'), size, mediaType: 'm' });
  const planOf = (...blobs: BlobPlan[]): TransferPlan => ({ blobs, manifests: [], bytesToSend: 0, totalBytes: 0 });
  const missing = planBlob(descriptor('a', 40 * MiB), undefined, ['m'], 4 * MiB);
  const staged = planBlob(descriptor('b', 40 * MiB), { publishedSize: undefined, stagedRanges: [{ start: 0, end: 4 * MiB }] }, ['m'], 4 * MiB);
  const locked = planBlob(descriptor('c', 40 * MiB), { publishedSize: undefined, stagedRanges: [], lockOwner: 'gone 1 run' }, ['m'], 4 * MiB);

  it('refuses when the blobs with nothing staged do not fit, naming the sizes', () => {
    expect(() => checkFreeSpace(planOf(missing), 30 * MiB, 'dest')).toThrow('not enough space: needs 41.9 MB in dest, 31.5 MB free; free some space and run again');
    expect(() => checkFreeSpace(planOf(missing), 40 * MiB, 'dest')).not.toThrow();
    expect(() => checkFreeSpace(planOf(missing), undefined, 'dest')).not.toThrow();
  });

  it('counts a blob an earlier run staged (done ranges, or its lock) as possibly on disk already', () => {
    expect(() => checkFreeSpace(planOf(staged), 0, 'dest')).not.toThrow();
    expect(() => checkFreeSpace(planOf(locked), 0, 'dest')).not.toThrow();
    expect(() => checkFreeSpace(planOf(staged, locked, missing), 30 * MiB, 'dest')).toThrow(/needs 41\.9 MB/);
  });
});

/** The full-disk case needs to mount a small tmpfs (root, and a kernel that lets us); said loudly when not. */
function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'ollama-push-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    process.stderr.write('\n!!! cannot mount a tmpfs here (not root, or no mount permission): the disk-full resume test is SKIPPED\n\n');
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

describe.runIf(canMountTmpfs())('disk full mid-push, space freed, same command', () => {
  let work: { path: string; remove: () => Promise<void> };
  let remote: string;
  beforeEach(async () => {
    work = await tempDir();
    remote = join(work.path, 'small-disk');
    await mkdir(remote);
  });
  afterEach(async () => {
    execFileSync('umount', [remote]);
    await work.remove();
  });

  it('resumes instead of being refused by the free-space check', async () => {
    const store = await writeSyntheticStore(join(work.path, 'local'), [48]);
    // Just room for the model: the ranges cut by the full disk hold space the next run writes again in place.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=50m', 'tmpfs', remote]);
    const args = [store.models[0]!, '--models-dir', store.modelsDir, '--remote-path', remote, '--range-size', '4', '--jobs', '4'];
    const run = startCli([...args, '--bwlimit', '8M']);
    const staging = join(remote, '.ollama-push');
    await waitFor('a staged range', async () => {
      const dirs = await readdir(staging).catch(() => []);
      const files = await Promise.all(dirs.map((d) => readdir(join(staging, d)).catch(() => [])));
      return files.flat().some((f) => f.startsWith('done.'));
    });
    await writeFile(join(remote, 'filler'), Buffer.alloc(50 * MiB)).catch(() => undefined);
    const full = await run.done;
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/disk is full/);

    rmSync(join(remote, 'filler'));
    const resumed = await runCli(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  }, 60_000);
});
