/** One SSH channel moves at most its 2 MiB window per round trip: a long link needs more of them. */
const LONG_LINK_RTT_MS = 5;
const LAN_JOBS = 4;
const LONG_LINK_JOBS = 6;

/** --jobs when given, else chosen from the round-trip time measured on connecting. */
export function chooseJobs(requested: number | undefined, rttMs: number | undefined): number {
  if (requested !== undefined) return requested;
  return rttMs !== undefined && rttMs >= LONG_LINK_RTT_MS ? LONG_LINK_JOBS : LAN_JOBS;
}
