import { describe, expect, it } from 'vitest';
import { ShellPool } from '../src/remote/shell-pool.js';
import { WARM_SHELL } from '../src/remote/warm-shell.js';
import { LocalShellTransport } from '../src/transport/local-shell.js';
import { shellCommand } from '../src/transport/shell-quote.js';
import type { RunOptions, Transport } from '../src/transport/transport.js';

/**
 * A real local transport that counts the shells started (each one a login shell over SSH), each opening
 * `openMs` late (as a channel over a link, or a busy sshd).
 */
function countingTransport(openMs = 0): { transport: Transport; shells: () => number } {
  const inner = new LocalShellTransport();
  let shells = 0;
  return {
    transport: {
      label: inner.label,
      maxParallel: inner.maxParallel,
      run: async (command: string, options?: RunOptions) => {
        shells++;
        await new Promise((resolve) => setTimeout(resolve, openMs));
        return inner.run(command, options);
      },
      close: () => inner.close(),
    },
    shells: () => shells,
  };
}

const command = shellCommand(['sh', '-c', WARM_SHELL, 'ollama-push']);

describe('ShellPool (the destination shells programs run in)', () => {
  it('runs programs in turn one after another in one shell, and starts another only for a program that keeps its shell', async () => {
    const { transport, shells } = countingTransport();
    const pool = new ShellPool(transport, command);
    const outputs: string[] = [];
    for (const word of ['probe', 'small', 'publish']) {
      const shell = await pool.take(true);
      try {
        outputs.push((await shell.runInTurn(`set -- ${word}\necho "$1 $$"`, {}, 0)).stdout.toString());
      } finally {
        pool.giveBack(shell);
      }
    }
    const pids = outputs.map((line) => line.split(' ')[1]);
    expect(new Set(pids).size).toBe(1);
    expect(shells()).toBe(1);
    // A writer keeps its shell to the end: the one idle is taken, and the next program starts another.
    const writer = await pool.take(false);
    const written = writer.run('set --\ncat', { stdin: Buffer.from('range') });
    const next = await pool.take(true);
    expect(shells()).toBe(2);
    expect((await written).stdout.toString()).toBe('range');
    pool.giveBack(next);
    await pool.release();
    await transport.close();
  });

  it('serves a program waiting for a shell with the first that comes back or opens, so none waits on a channel held idle', async () => {
    const { transport, shells } = countingTransport(300);
    const pool = new ShellPool(transport, command);
    const first = await pool.take(true);
    const waiting = pool.take(true);
    expect(shells()).toBe(2);
    pool.giveBack(first);
    const second = await waiting;
    expect(second).toBe(first);
    pool.giveBack(second);
    // The shell started for it opens later, finds nobody waiting and stays idle until released.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await pool.release();
    await transport.close();
  });

  it('keeps a shell started ahead while on, also once a program waiting took the shell that opened for it', async () => {
    const { transport, shells } = countingTransport(100);
    const pool = new ShellPool(transport, command);
    pool.keepShellWarm(true);
    expect(shells()).toBe(1);
    // Batches of small blobs keep their shells: each takes the one started ahead, and another starts.
    const first = await pool.take(false);
    expect(shells()).toBe(2);
    const second = await pool.take(false);
    expect(shells()).toBe(3);
    for (const shell of [first, second]) expect((await shell.run('set --\ncat', { stdin: Buffer.from('batch') })).stdout.toString()).toBe('batch');
    pool.keepShellWarm(false);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await pool.release();
    await transport.close();
  });

  it('starts a shell ahead for the first program once its channel is open, and no second one while that one is starting or idle', async () => {
    const { transport, shells } = countingTransport(100);
    const pool = new ShellPool(transport, command);
    const opened = pool.startAhead();
    await pool.startAhead();
    expect(shells()).toBe(1);
    await opened;
    const shell = await pool.take(true);
    expect(shells()).toBe(1);
    expect((await shell.runInTurn('set --\necho probe', {}, 0)).stdout.toString()).toBe('probe\n');
    pool.giveBack(shell);
    await pool.startAhead();
    expect(shells()).toBe(1);
    await pool.release();
    await transport.close();
  });

  it('has a patient program (the hash follower) wait for a program in turn to give its shell back, and start one only when none would', async () => {
    const { transport, shells } = countingTransport(50);
    const pool = new ShellPool(transport, command);
    const inTurn = pool.take(true);
    const patient = pool.take(true, true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(shells()).toBe(1);
    const first = await inTurn;
    pool.giveBack(first);
    const second = await patient;
    expect(second).toBe(first);
    expect((await second.runInTurn('set --\necho follow', {}, 0)).stdout.toString()).toBe('follow\n');
    pool.giveBack(second);
    // A writer keeps the idle shell to its end: no program in turn is left to give one back.
    const writer = await pool.take(false);
    const alone = pool.take(true, true);
    expect(shells()).toBe(2);
    const third = await alone;
    expect(third).not.toBe(writer);
    pool.giveBack(third);
    await writer.run('set --\ntrue', {});
    await pool.release();
    await transport.close();
  });

  it('lets idle shells go at the end: waits for one that may still be starting, not for one that has run a program', async () => {
    // Each shell's end is known 300 ms after it exits, as a channel's close comes a round trip later.
    const inner = new LocalShellTransport();
    let ended = 0;
    const transport: Transport = {
      label: inner.label,
      maxParallel: inner.maxParallel,
      run: async (text: string, options?: RunOptions) => {
        const result = await inner.run(text, options);
        await new Promise((resolve) => setTimeout(resolve, 300));
        ended++;
        return result;
      },
      close: () => inner.close(),
    };
    const used = new ShellPool(transport, command);
    const shell = await used.take(true);
    await shell.runInTurn('set --\ntrue', {}, 0);
    used.giveBack(shell);
    await used.release();
    expect(ended).toBe(0);
    await shell.ending;
    expect(ended).toBe(1);

    const unused = new ShellPool(transport, command);
    await unused.startAhead();
    await unused.release();
    expect(ended).toBe(2);
    await transport.close();
  });

  it('fails a program waiting for a shell that cannot start, with the transport\'s error', async () => {
    const inner = new LocalShellTransport();
    await inner.close();
    const pool = new ShellPool(inner, command);
    await expect(pool.take(true)).rejects.toThrow();
  });
});
