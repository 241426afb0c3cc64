import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { copyFixtureStore, runCli, tempDir } from './cli.js';
import { checkOllamaStore } from './ollama-store-checker.js';
import { writeTensorStore } from './tensor-store.js';

/** How the suite reaches a destination: extra CLI flags (none for a local dir, --host for SSH, ...). */
export interface TestDestination {
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

const TINY = 'registry.ollama.ai/library/tiny:latest';
const Q2 = 'registry.ollama.ai/library/tiny/q2';

async function blobSizes(modelsDir: string, manifest: string[]): Promise<Map<string, number>> {
  const json = JSON.parse(await readFile(join(modelsDir, 'manifests', ...manifest), 'utf8'));
  return new Map([json.config, ...json.layers].map((l: { digest: string; size: number }) => [l.digest.slice(7), l.size]));
}

const sum = (sizes: Iterable<number>) => [...sizes].reduce((a, b) => a + b, 0);

/**
 * One suite that every transport passes (as rclone's fstests): the same pushes, diffs and failures,
 * asserted on the resulting store with the Ollama-rules checker.
 */
export function definePushSuite(label: string, open: () => Promise<TestDestination>): void {
  describe(`push and diff (${label})`, () => {
    let destination: TestDestination;
    let work: { path: string; remove: () => Promise<void> };
    let local: string;
    let remote: string;

    const cli = (args: string[], extra: { env?: NodeJS.ProcessEnv } = {}) =>
      runCli(['--models-dir', local, ...args, ...destination.args], { env: { ...destination.env, ...extra.env } });
    const pushJson = async (...args: string[]) => {
      const result = await cli([...args, '--remote-path', remote, '--json']);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { bytesSent: number; blobs: { status: string }[] };
    };

    beforeAll(async () => {
      destination = await open();
    });
    afterAll(async () => {
      await destination?.close();
    });
    beforeEach(async () => {
      await work?.remove();
      work = await tempDir();
      local = await copyFixtureStore(work.path);
      remote = join(work.path, "remote store's $HOME");
      await mkdir(remote);
    });

    it('pushes a model so that Ollama sees it complete, and a second push sends nothing', async () => {
      const tinySizes = await blobSizes(local, ['registry.ollama.ai', 'library', 'tiny', 'latest']);
      expect((await pushJson('tiny')).bytesSent).toBe(sum(tinySizes.values()));
      const report = await checkOllamaStore(remote);
      expect(report.problems).toEqual([]);
      expect(report.models).toEqual([TINY]);

      const before = await stat(join(remote, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest'));
      const again = await pushJson('tiny');
      expect(again.bytesSent).toBe(0);
      expect(again.blobs.every((b) => b.status === 'present')).toBe(true);
      const after = await stat(join(remote, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest'));
      expect(after.mtimeMs).toBe(before.mtimeMs);
      expect(after.ino).toBe(before.ino);
    });

    it('sends only the blobs a second model does not share', async () => {
      await pushJson('tiny');
      const q2 = await blobSizes(local, Q2.split('/'));
      const tiny = await blobSizes(local, ['registry.ollama.ai', 'library', 'tiny', 'latest']);
      const onlyQ2 = sum([...q2].filter(([hex]) => !tiny.has(hex)).map(([, size]) => size));
      expect((await pushJson('tiny:q2')).bytesSent).toBe(onlyQ2);
      const report = await checkOllamaStore(remote);
      expect(report.problems).toEqual([]);
      expect(report.models).toEqual([TINY, 'registry.ollama.ai/library/tiny:q2']);
    });

    it('pushes every kind of name at once, byte-identical manifests', async () => {
      await pushJson('tiny', 'TINY:Q2', 'someone/vision', 'hf.co/org/Tiny-GGUF:Q4_K_M');
      const report = await checkOllamaStore(remote);
      expect(report.problems).toEqual([]);
      expect(report.models).toHaveLength(4);
      for (const path of ['hf.co/org/Tiny-GGUF/Q4_K_M', 'registry.ollama.ai/someone/vision/latest']) {
        expect(await readFile(join(remote, 'manifests', path))).toEqual(await readFile(join(local, 'manifests', path)));
      }
    });

    it('splits blobs into ranges and still publishes a valid store', async () => {
      await pushJson('tiny', '--range-size', '1', '--jobs', '3');
      expect((await checkOllamaStore(remote)).problems).toEqual([]);
    });

    it('diff reports what is missing and writes nothing; --exit-code follows diff(1)', async () => {
      const before = await cli(['diff', 'tiny', '--remote-path', remote, '--exit-code', '--json']);
      expect(before.code, before.stderr).toBe(1);
      const doc = JSON.parse(before.stdout);
      expect(doc.blobs.map((b: { status: string }) => b.status)).toEqual(Array(5).fill('missing'));
      expect(doc.bytesToSend).toBe(sum((await blobSizes(local, ['registry.ollama.ai', 'library', 'tiny', 'latest'])).values()));
      expect(await checkOllamaStore(remote)).toEqual({ models: [], blobs: [], problems: [] });

      await pushJson('tiny');
      const after = await cli(['diff', 'tiny', '--remote-path', remote, '--exit-code']);
      expect(after.code, after.stderr).toBe(0);
      expect(after.stdout).toMatch(/up to date: 5 of 5 blobs present/);
      const dry = await cli(['tiny:q2', '--dry-run', '--remote-path', remote]);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/missing/);
      expect((await checkOllamaStore(remote)).models).toEqual([TINY]);
    });

    it('writes under models/ when the path is an Ollama home, and says so', async () => {
      await writeFile(join(remote, 'id_ed25519'), 'not a real key');
      const result = await cli(['tiny', '--remote-path', remote]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/Ollama home/);
      expect((await checkOllamaStore(join(remote, 'models'))).models).toEqual([TINY]);
    });

    it('refuses a remote path that does not exist unless --mkdir', async () => {
      const missing = join(work.path, 'pvc-typo');
      const result = await cli(['tiny', '--remote-path', missing]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/does not exist.*--mkdir/);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      await expect(stat(missing)).rejects.toThrow();
      const created = await cli(['tiny', '--remote-path', join(missing, 'models'), '--mkdir']);
      expect(created.code, created.stderr).toBe(0);
      expect((await checkOllamaStore(join(missing, 'models'))).models).toEqual([TINY]);
    });

    it('publishes nothing when a local blob is missing or corrupt, and names it', async () => {
      const sizes = await blobSizes(local, ['registry.ollama.ai', 'library', 'tiny', 'latest']);
      const [bigHex] = [...sizes].sort((a, b) => b[1] - a[1])[0]!;
      const blob = join(local, 'blobs', `sha256-${bigHex}`);
      const good = await readFile(blob);
      const corrupt = Buffer.from(good);
      corrupt[corrupt.length >> 1] ^= 0xff;
      await writeFile(blob, corrupt);
      for (const rangeSize of ['64', '1']) {
        const result = await cli(['tiny', '--remote-path', remote, '--range-size', rangeSize]);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(`sha256:${bigHex}`);
        expect(result.stderr).toMatch(/does not match its digest/);
        const report = await checkOllamaStore(remote, { allowUnreferenced: true });
        expect(report.problems).toEqual([]);
        expect(report.models).toEqual([]);
      }
      await rm(blob);
      const missing = await cli(['tiny', '--remote-path', remote]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(new RegExp(`local blob sha256:${bigHex} is missing`));
      await writeFile(blob, good);
      await truncate(blob, 10);
      const short = await cli(['tiny', '--remote-path', remote]);
      expect(short.stderr).toMatch(/has 10 bytes, its manifest says/);
      expect((await checkOllamaStore(remote, { allowUnreferenced: true })).models).toEqual([]);
    });

    it('resumes a staged blob from the ranges the destination reports', async () => {
      const sizes = await blobSizes(local, ['registry.ollama.ai', 'library', 'tiny', 'latest']);
      const [bigHex, bigSize] = [...sizes].sort((a, b) => b[1] - a[1])[0]!;
      const staging = join(remote, '.ollama-push', `sha256-${bigHex}`);
      await mkdir(staging, { recursive: true });
      const content = await readFile(join(local, 'blobs', `sha256-${bigHex}`));
      await writeFile(join(staging, 'data'), content.subarray(0, 2 * 1024 * 1024));
      await writeFile(join(staging, `done.0-${2 * 1024 * 1024}`), '');
      const diff = await cli(['diff', 'tiny', '--remote-path', remote, '--json']);
      const partial = JSON.parse(diff.stdout).blobs.find((b: { digest: string }) => b.digest === `sha256:${bigHex}`);
      expect(partial).toMatchObject({ status: 'partial', stagedBytes: 2 * 1024 * 1024 });

      const result = await pushJson('tiny', '--range-size', '1');
      expect(result.bytesSent).toBe(sum(sizes.values()) - 2 * 1024 * 1024);
      expect((await checkOllamaStore(remote)).problems).toEqual([]);
      expect(createHash('sha256').update(await readFile(join(remote, 'blobs', `sha256-${bigHex}`))).digest('hex')).toBe(bigHex);
      expect(bigSize).toBeGreaterThan(2 * 1024 * 1024);
    });

    it('re-sends a published blob that has the wrong size', async () => {
      await pushJson('tiny');
      const sizes = await blobSizes(local, ['registry.ollama.ai', 'library', 'tiny', 'latest']);
      const [bigHex, bigSize] = [...sizes].sort((a, b) => b[1] - a[1])[0]!;
      await truncate(join(remote, 'blobs', `sha256-${bigHex}`), 100);
      const result = await pushJson('tiny');
      expect(result.blobs.filter((b) => b.status === 'mismatch')).toHaveLength(1);
      expect(result.bytesSent).toBe(bigSize);
      expect((await checkOllamaStore(remote)).problems).toEqual([]);
    });

    it('pushes a per-tensor model of 2,500 blobs (more digests than fit in one command line), then sends nothing', async () => {
      const tensors = await writeTensorStore(join(work.path, 'tensors'), { blobs: 2500, minBytes: 64, maxBytes: 64 * 1024 });
      const push = (...args: string[]) => runCli([...args, '--models-dir', tensors.modelsDir, '--remote-path', remote, '--json', ...destination.args], { env: destination.env });
      const first = await push(...tensors.models);
      expect(first.code, first.stderr.slice(-2000)).toBe(0);
      expect((await checkOllamaStore(remote)).blobs).toHaveLength(2501);
      expect((await checkOllamaStore(remote)).problems).toEqual([]);
      const second = await push(...tensors.models);
      expect(JSON.parse(second.stdout).bytesSent).toBe(0);
    });
  });
}
