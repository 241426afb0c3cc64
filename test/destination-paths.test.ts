import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURE_MODELS, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';

describe('remote paths as they are', () => {
  let dir: { path: string; remove: () => Promise<void> };
  const cli = (remote: string, args: string[]) => runCli([...args, '--models-dir', FIXTURE_MODELS, '--remote-path', remote]);

  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.remove());

  it('works under a path with a newline, a backslash, quotes and spaces (no tool ever sees a file name)', async () => {
    const remote = join(dir.path, 'a\nb\\c "d" \'e\' $f');
    const pushed = await cli(remote, ['tiny', '--mkdir']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
    expect((await cli(remote, ['diff', 'tiny', '--verify', '--exit-code'])).code).toBe(0);
  });

  it('says that a read-only filesystem is read-only, not a permission problem', async () => {
    expect(process.getuid?.(), 'mounting a read-only tmpfs needs root (CI runs as root)').toBe(0);
    const remote = join(dir.path, 'read-only');
    await mkdir(remote);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,ro', 'tmpfs', remote]);
    try {
      const pushed = await cli(remote, ['tiny']);
      expect(pushed.code).toBe(1);
      const errors = pushed.stderr.split('\n').filter((line) => line.startsWith('ollama-push:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/^ollama-push: the destination's filesystem is read-only \(.*\): .*remount it read-write or choose another --remote-path$/);
    } finally {
      execFileSync('umount', [remote]);
    }
  });
});
