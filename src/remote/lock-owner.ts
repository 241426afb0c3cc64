import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * This machine, as locks name it: the hostname and the start of /etc/machine-id, since homelab machines
 * often share a default hostname (ubuntu, raspberrypi) and a lock must not be judged by another's pids.
 */
const machine = (() => {
  const id = (() => {
    try {
      return readFileSync('/etc/machine-id', 'utf8').trim().slice(0, 12);
    } catch {
      return '';
    }
  })();
  return id ? `${hostname()}/${id}` : hostname();
})();

/** This process's identity in destination locks: `<machine> <pid> <run id>`. */
export const lockOwner = `${machine} ${process.pid} ${randomUUID().slice(0, 8)}`;

/** A lock owner that ran on this machine and whose process is gone (killed, crashed) holds nothing. */
export function isDeadOwner(owner: string): boolean {
  const [host, pid] = owner.split(' ');
  if (host !== machine || !pid || !/^\d+$/.test(pid) || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
