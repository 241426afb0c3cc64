import { execFileSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { tempDir } from './harness/cli.js';
import { definePushSuite } from './harness/push-suite.js';

const which = (tool: string) => execFileSync('sh', ['-c', `command -v ${tool} || true`]).toString().trim();

/** A dir holding only `sh` (as `shell`) and, when given, every busybox applet: a PATH for the destination. */
async function pathDir(shell: string, busybox: boolean): Promise<{ path: string; remove: () => Promise<void> }> {
  const dir = await tempDir('ollama-push-path-');
  const bin = join(dir.path, 'bin');
  await mkdir(bin);
  if (busybox) execFileSync(which('busybox'), ['--install', '-s', bin]);
  await symlink(shell, join(bin, 'sh')).catch(async () => {
    execFileSync('ln', ['-sf', shell, join(bin, 'sh')]);
  });
  return { path: bin, remove: dir.remove };
}

// --rsh: the destination reached through a command, here `sh -c` on this machine, as `ssh host` would be.
describe('over --rsh', () => {
  definePushSuite('--rsh sh -c', async () => ({ args: ['--rsh', 'sh -c'], env: process.env, close: async () => {} }));
});

// A destination whose sh and tools are all busybox (Alpine, OpenWrt, NAS systems): PATH holds only its
// applets, so a GNU-only option or a tool busybox lacks fails the suite.
describe('busybox destination', () => {
  expect(which('busybox'), 'busybox is needed (Debian package busybox, installed by .ci/run)').not.toBe('');
  definePushSuite('busybox sh and applets only', async () => {
    const bin = await pathDir(which('busybox'), true);
    return { args: ['--rsh', `env PATH=${bin.path} ${bin.path}/sh -c`], env: process.env, close: bin.remove };
  });
});

// dash as /bin/sh (Debian, Ubuntu): the strictest common POSIX sh, with GNU tools.
describe('dash destination', () => {
  expect(which('dash'), 'dash is needed (Debian package dash)').not.toBe('');
  definePushSuite('dash as sh', async () => {
    const bin = await pathDir(which('dash'), false);
    return { args: ['--rsh', `env PATH=${bin.path}:/usr/bin:/bin ${bin.path}/sh -c`], env: process.env, close: bin.remove };
  });
});
