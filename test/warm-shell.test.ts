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

  it.each(shells)('under %s, runs programs in turn, each with exactly its own stdin, output and exit status', (shell) => {
    const mark = (n: number) => `__OLLAMA_PUSH_DONE_test${n}__`;
    const programs = [
      // Reads all of its stdin.
      { text: `set -- one\nprintf '%s:' "$1"; cat; echo oops >&2; exit 3`, stdin: 'first input\n' },
      // Stops early: the rest of its input must not become the next program.
      { text: `set -- two\nhead -c 2; trap 'echo trapped' EXIT; exit 0`, stdin: `xx\n${GO_LINE}\necho injected\n` },
      // No stdin; the shell's loop variables are not its business.
      { text: `set --\necho "[$#][$(cat)]"`, stdin: '' },
    ];
    const input = programs.map((p, i) => `${p.text}\n${GO_LINE} ${mark(i)} ${Buffer.byteLength(p.stdin)}\n${p.stdin}`).join('');
    const result = spawnSync(shell.split(' ')[0]!, [...shell.split(' ').slice(1), '-c', WARM_SHELL, 'ollama-push'], { input });
    expect(result.stdout.toString()).toBe(`one:first input\n${mark(0)} 3\nxxtrapped\n${mark(1)} 0\n[0][]\n${mark(2)} 0\n`);
    expect(result.stderr.toString()).toBe(`oops\n${mark(0)}\n${mark(1)}\n${mark(2)}\n`);
    expect(result.status).toBe(0);
  });

  it('gives a program in turn its own output and status through a transport, then takes the next and a last one', async () => {
    const transport = new LocalShellTransport();
    const shell = new WarmShell(transport, shellCommand(['sh', '-c', WARM_SHELL, 'ollama-push']));
    const data = Buffer.from('0123456789');
    const first = await shell.runInTurn(`set -- a\n# a destination file may say anything, a mark of its own too\necho "__OLLAMA_PUSH_DONE_0__ 0"; head -c 4; echo err >&2; exit 4`, { stdin: data }, data.length);
    expect(first).toEqual({ code: 4, stdout: Buffer.from('__OLLAMA_PUSH_DONE_0__ 0\n0123'), stderr: Buffer.from('err\n') });
    const stream = Readable.from([Buffer.from('ab'), Buffer.from('cd')]);
    const second = await shell.runInTurn(`set -- b\necho "$1 $(cat)"`, { stdin: stream }, 4);
    expect(second).toEqual({ code: 0, stdout: Buffer.from('b abcd\n'), stderr: Buffer.alloc(0) });
    expect(shell.usable).toBe(true);
    const last = await shell.run(`set -- c\necho "$1 $(cat)" >&2; exit 5`, { stdin: Buffer.from('rest') });
    expect(last).toEqual({ code: 5, stdout: Buffer.alloc(0), stderr: Buffer.from('c rest\n') });
    await transport.close();
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
