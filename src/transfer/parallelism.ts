/**
 * One SSH channel moves at most its 2 MiB window per round trip: a long link needs more of them. One
 * moves more than 1 Gb/s up to about 15 ms; an SSH round trip measured by opening a channel also holds
 * sshd's start of the command (a few ms).
 */
const LONG_LINK_RTT_MS = 15;
/**
 * Below that, one channel of ranges keeps up with sshd, which decrypts every channel in one process; a
 * second only costs CPU, memory and a login shell.
 */
const LAN_JOBS = 1;
/** Batches of small blobs on a LAN: the destination unpacking them (tar, a core each) sets their pace. */
const LAN_BATCH_JOBS = 2;
const LONG_LINK_JOBS = 6;
/** Where the transport cannot tell the round trip (kubectl, --rsh, a local directory). */
const UNKNOWN_LINK_JOBS = 4;

export interface Jobs {
  /** Parallel transfers: channels of ranges, or blobs at once. */
  readonly transfers: number;
  /** Batches of small blobs at once. */
  readonly batches: number;
}

/** --jobs when given (for both), else chosen from the round-trip time measured on connecting. */
export function chooseJobs(requested: number | undefined, rttMs: number | undefined): Jobs {
  if (requested !== undefined) return { transfers: requested, batches: requested };
  if (rttMs === undefined) return { transfers: UNKNOWN_LINK_JOBS, batches: UNKNOWN_LINK_JOBS };
  if (rttMs >= LONG_LINK_RTT_MS) return { transfers: LONG_LINK_JOBS, batches: LONG_LINK_JOBS };
  return { transfers: LAN_JOBS, batches: LAN_BATCH_JOBS };
}
