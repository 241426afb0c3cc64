import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURE_MODELS, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';

/** A published blob with the right name and size but other bytes: found only by --verify, then replaced. */
describe('--verify hashes what the destination has (like rsync -c)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let remote: string;
  const cli = (args: string[]) => runCli([...args, '--models-dir', FIXTURE_MODELS, '--remote-path', remote]);

  beforeEach(async () => {
    dir = await tempDir();
    remote = join(dir.path, 'remote');
    expect((await cli(['tiny', '--mkdir'])).code).toBe(0);
  });
  afterEach(() => dir.remove());

  /** Overwrites the largest published blob with bytes of the same size. */
  async function corruptLargestBlob(): Promise<string> {
    const names = await readdir(join(remote, 'blobs'));
    const sizes = await Promise.all(names.map(async (name) => ({ name, size: (await stat(join(remote, 'blobs', name))).size })));
    const largest = sizes.sort((a, b) => b.size - a.size)[0]!;
    const path = join(remote, 'blobs', largest.name);
    const bytes = await readFile(path);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(path, bytes);
    return largest.name.replace('sha256-', 'sha256:');
  }

  it('diff trusts name and size without it, reports corrupt with it, and push --verify replaces the blob', async () => {
    const digest = await corruptLargestBlob();
    expect((await cli(['diff', 'tiny', '--exit-code'])).code).toBe(0);

    const verified = await cli(['diff', 'tiny', '--verify', '--exit-code', '--json']);
    expect(verified.code).toBe(1);
    const blob = JSON.parse(verified.stdout).blobs.find((b: { digest: string }) => b.digest === digest);
    expect(blob.status).toBe('corrupt');
    expect((await checkOllamaStore(remote)).problems).not.toEqual([]);

    const pushed = await cli(['tiny', '--verify']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toMatch(/failed its sha256; removed it, sending it again/);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
    expect((await cli(['diff', 'tiny', '--verify', '--exit-code'])).code).toBe(0);
  });

  it('push --verify of an intact store sends nothing', async () => {
    const pushed = await cli(['tiny', '--verify', '--json']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(JSON.parse(pushed.stdout).bytesSent).toBe(0);
  });
});
