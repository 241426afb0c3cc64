import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/** This process's identity in destination locks: `<hostname> <pid> <run id>`. */
export const lockOwner = `${hostname()} ${process.pid} ${randomUUID().slice(0, 8)}`;

/** A lock owner that ran on this machine and whose process is gone (killed, crashed) holds nothing. */
export function isDeadOwner(owner: string): boolean {
  const [host, pid] = owner.split(' ');
  if (host !== hostname() || !pid || !/^\d+$/.test(pid) || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
