import { describe, expect, it } from 'vitest';
import { chooseJobs } from '../src/transfer/parallelism.js';

describe('parallel transfers (--jobs) by round trip', () => {
  it.each<[string, number | undefined, number | undefined, number]>([
    ['--jobs given', 3, 40, 3],
    ['a LAN (under 15 ms)', undefined, 4, 2],
    ['a long link (15 ms or more)', undefined, 15, 6],
    ['a transport that cannot tell (kubectl, --rsh, a local directory)', undefined, undefined, 4],
  ])('%s', (_what, requested, rttMs, jobs) => {
    expect(chooseJobs(requested, rttMs)).toBe(jobs);
  });
});
