/**
 * One SSH channel moves at most its 2 MiB window per round trip: a long link needs more of them. Two
 * move 4 MiB, more than 1 Gb/s up to about 30 ms; an SSH round trip measured by opening a channel also
 * holds sshd's start of the command (a few ms).
 */
const LONG_LINK_RTT_MS = 15;
/** Below that, two keep the destination's writers busy on two cores; more only cost CPU, memory and login shells. */
const LAN_JOBS = 2;
const LONG_LINK_JOBS = 6;
/** Where the transport cannot tell the round trip (kubectl, --rsh, a local directory). */
const UNKNOWN_LINK_JOBS = 4;

/** --jobs when given, else chosen from the round-trip time measured on connecting. */
export function chooseJobs(requested: number | undefined, rttMs: number | undefined): number {
  if (requested !== undefined) return requested;
  if (rttMs === undefined) return UNKNOWN_LINK_JOBS;
  return rttMs >= LONG_LINK_RTT_MS ? LONG_LINK_JOBS : LAN_JOBS;
}
