import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GO_LINE, WARM_SHELL, WarmShell } from '../src/remote/warm-shell.js';
import { LocalShellTransport } from '../src/transport/local-shell.js';
import { shellCommand } from '../src/transport/shell-quote.js';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const shells = ['sh', 'dash', 'bash', 'busybox sh'].filter((s) => has(s.split(' ')[0]!));

describe('a warm shell (started ahead, told its program on stdin)', () => {
  it('passes shellcheck -s sh', () => {
    expect(has('shellcheck'), 'shellcheck is needed (Debian package shellcheck, installed by .ci/run)').toBe(true);
    const result = spawnSync('shellcheck', ['-s', 'sh', '-'], { input: WARM_SHELL });
    expect(result.stdout.toString()).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(shells)('runs the program with its arguments under %s, the rest of stdin its own', (shell) => {
    const args = ['a b', "it's", 'two\nlines', '$HOME', ''];
    const program = `set -- ${shellCommand(args)}\nprintf '[%s]' "$@"; echo; printf '%s|' "$0"; cat; exit 7`;
    const input = `${program}\n${GO_LINE}\nstdin line 1\nstdin line 2\n`;
    const result = spawnSync(shell.split(' ')[0]!, [...shell.split(' ').slice(1), '-c', WARM_SHELL, 'ollama-push'], { input });
    expect(result.stdout.toString()).toBe(`[a b][it's][two\nlines][$HOME][]\nollama-push|stdin line 1\nstdin line 2\n`);
    expect(result.status).toBe(7);
  });

  it('exits 0 with nothing run when its stdin ends first (an unused shell let go)', () => {
    const result = spawnSync('sh', ['-c', WARM_SHELL, 'ollama-push'], { input: 'touch /nonexistent-dir/x\n' });
    expect(result.status).toBe(0);
    expect(result.stderr.toString()).toBe('');
  });

  it('collects stdout and the exit code through a transport; a released one just ends', async () => {
    const transport = new LocalShellTransport();
    const command = shellCommand(['sh', '-c', WARM_SHELL, 'ollama-push']);
    const used = new WarmShell(transport, command);
    const result = await used.run(`set -- x\necho "got $1 $(cat)"; exit 3`, { stdin: Readable.from([Buffer.from('data')]) });
    expect(result.code).toBe(3);
    expect(result.stdout.toString()).toBe('got x data\n');
    const unused = new WarmShell(transport, command);
    unused.release();
    await expect.poll(() => unused.usable).toBe(false);
    await transport.close();
  });
});
