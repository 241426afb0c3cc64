import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { childrenOf, treeCpuSeconds } from './cpu.js';

/** The CPU a daemon and everything it starts use, and whether its connections are done. */
export interface CpuAccount {
  /** How it counts, for the report. */
  readonly method: string;
  /** CPU seconds so far; read when quiet. */
  seconds(): Promise<number>;
  /** Waits until only the daemon is left; false on timeout. */
  quiet(timeoutMs: number): Promise<boolean>;
  /** Lets the daemon's group go once the daemon is stopped. */
  remove(): Promise<void>;
}

/**
 * Counts in a cgroup (v2) of the daemon's own where this machine lets us make one (root, a writable
 * cgroup2 mount), else in its process tree. A cgroup keeps every process the daemon starts, also one
 * that outlives its parent (a session's shell still exiting when the client has gone, reparented to
 * init), and counts its CPU; a process tree loses that process.
 */
export async function cpuAccount(pid: number): Promise<CpuAccount> {
  return (await cgroupAccount(pid).catch(() => undefined)) ?? treeAccount(pid);
}

function treeAccount(pid: number): CpuAccount {
  return {
    method: "sshd's process tree (a process that outlives its session is not counted: no writable cgroup here)",
    seconds: () => treeCpuSeconds(pid),
    quiet: (timeoutMs) => pollUntil(async () => (await childrenOf(pid)).length === 0, timeoutMs),
    remove: async () => {},
  };
}

async function cgroupAccount(pid: number): Promise<CpuAccount> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const mount = mounts
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => fields[2] === 'cgroup2')?.[1];
  if (!mount) throw new Error('no cgroup2 mount');
  const dir = join(mount, `ollama-push-bench-${pid}`);
  await mkdir(dir);
  try {
    await writeFile(join(dir, 'cgroup.procs'), `${pid}\n`);
  } catch (error) {
    await rmdir(dir);
    throw error;
  }
  const procs = async () => (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
  return {
    method: "sshd's cgroup (every process of its sessions, also one that outlives its session)",
    seconds: async () => {
      const usage = (await readFile(join(dir, 'cpu.stat'), 'utf8')).match(/^usage_usec (\d+)$/m);
      if (!usage) throw new Error(`${dir}/cpu.stat has no usage_usec`);
      return Number(usage[1]) / 1e6;
    },
    quiet: (timeoutMs) => pollUntil(async () => (await procs()).every((p) => p === pid), timeoutMs),
    remove: async () => {
      // The daemon's last processes leave it as they are reaped.
      for (let i = 0; i < 100 && (await procs().catch(() => [])).length > 0; i++) await sleep(20);
      await rmdir(dir).catch(() => {});
    },
  };
}

/** Polls `check` every 10 ms until it holds (true) or `timeoutMs` has passed (false). */
async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
}
