import { describe, expect, it } from 'vitest';
import { chooseJobs } from '../src/transfer/parallelism.js';
import { balancedRangeSize, planBlob, resplitRanges } from '../src/transfer/plan.js';

describe('parallel transfers (--jobs) by round trip', () => {
  it.each<[string, number | undefined, number | undefined, number, number]>([
    ['--jobs given, for both', 3, 40, 3, 3],
    ['a LAN (under 15 ms): one channel of ranges, two batches of small blobs', undefined, 4, 1, 2],
    ['a long link (15 ms or more)', undefined, 15, 6, 6],
    ['a transport that cannot tell (kubectl, --rsh, a local directory)', undefined, undefined, 4, 4],
  ])('%s', (_what, requested, rttMs, transfers, batches) => {
    expect(chooseJobs(requested, rttMs)).toEqual({ transfers, batches });
  });
});

describe('ranges evened out over the channels', () => {
  const MiB = 1024 * 1024;
  it.each<[string, number, number, number, number]>([
    ['512 MiB on 6 channels: 12 ranges, not 8 of 64 MiB (a second round of 2)', 512, 64, 6, 43],
    ['512 MiB on 2 channels: already a multiple', 512, 64, 2, 64],
    ['100 MiB on 2 channels: two halves, not 64 + 36', 100, 64, 2, 50],
    ['a 3 MiB blob on 4 channels: never under 1 MiB', 3, 64, 4, 1],
    ['--range-size 4 stays the largest range', 100, 4, 2, 4],
  ])('%s', (_what, mib, rangeMib, jobs, expected) => {
    expect(balancedRangeSize(mib * MiB, rangeMib * MiB, jobs)).toBe(expected * MiB);
  });

  it('cuts a blob again at the even size, joining adjacent ranges first and keeping the staged gaps, and tapers the last range', () => {
    const blob = planBlob({ digest: { hex: 'a'.repeat(64) }, size: 100 * MiB, mediaType: 'm' }, { publishedSize: undefined, stagedRanges: [{ start: 8 * MiB, end: 16 * MiB }] }, ['m'], 8 * MiB);
    const ranges = resplitRanges(blob, 30 * MiB).ranges.map((r) => [r.start / MiB, r.end / MiB]);
    expect(ranges).toEqual([
      [0, 8],
      [16, 46],
      [46, 76],
      [76, 88],
      [88, 94],
      [94, 100],
    ]);
  });

  it('tapers the last range of a 512 MiB blob to 32, 16, 8 and 8 MiB, and leaves a last range of 8 MiB or less whole', () => {
    const plan = (size: number) => planBlob({ digest: { hex: 'b'.repeat(64) }, size, mediaType: 'm' }, undefined, ['m'], 64 * MiB);
    const sizes = (size: number) => resplitRanges(plan(size), 64 * MiB).ranges.map((r) => (r.end - r.start) / MiB);
    expect(sizes(512 * MiB)).toEqual([64, 64, 64, 64, 64, 64, 64, 32, 16, 8, 8]);
    expect(sizes(8 * MiB)).toEqual([8]);
    expect(sizes(70 * MiB)).toEqual([64, 6]);
  });
});
