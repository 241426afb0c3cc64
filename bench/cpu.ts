import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc's CPU times (USER_HZ), almost always 100. */
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * Busy CPU seconds of the whole machine so far, every core: user, nice, system, irq and softirq of
 * /proc/stat's `cpu` line (not idle, not iowait, not steal: time the hypervisor gave to someone else).
 * Everything running counts, the other users of the machine too: compare it with the load average.
 */
export async function machineCpuSeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no cpu line');
  const [user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq) / TICKS;
}

interface ProcStat {
  readonly ppid: number;
  /** utime + stime: the process itself. */
  readonly self: number;
  /** cutime + cstime: its children that exited and were waited for, with theirs, recursively. */
  readonly reaped: number;
}

async function procStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field n is fields[n - 3].
  const n = (field: number) => Number(fields[field - 3]);
  return { ppid: n(4), self: (n(14) + n(15)) / TICKS, reaped: (n(16) + n(17)) / TICKS };
}

/**
 * CPU seconds a daemon and every process it started have used, once they have exited: its own time plus
 * that of the children it waited for (sshd waits for each connection's process, which waits for the
 * session's shell, which waits for its commands). Read it when no connection is left.
 * A process that outlives its parent (reparented to init) is not counted (cpu-account.ts counts in a
 * cgroup where it can).
 */
export async function treeCpuSeconds(pid: number): Promise<number> {
  const stat = await procStat(pid);
  if (!stat) throw new Error(`process ${pid} is gone`);
  return stat.self + stat.reaped;
}

/** The pids whose parent is `pid` (from /proc/PID/task/TID/children when the kernel has it, else a scan). */
export async function childrenOf(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    const lists = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8')));
    return lists.join(' ').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // Without CONFIG_PROC_CHILDREN: look at every process's parent.
  }
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await procStat(Number(name));
    if (stat?.ppid === pid) found.push(Number(name));
  }
  return found;
}

/** CPU seconds this process (the bench, with its latency proxy) has used so far. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
