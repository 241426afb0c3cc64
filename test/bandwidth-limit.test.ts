import { describe, expect, it } from 'vitest';
import { BandwidthLimit, parseRate } from '../src/transfer/bandwidth-limit.js';

describe('parseRate (rsync --bwlimit units)', () => {
  it.each([
    ['100', 100 * 1024],
    ['50M', 50 * 1024 ** 2],
    ['50MiB', 50 * 1024 ** 2],
    ['20MB', 20 * 1000 ** 2],
    ['1.5G', 1.5 * 1024 ** 3],
    ['500k', 500 * 1024],
    ['2048B', 2048],
    ['10M/s', 10 * 1024 ** 2],
    ['0', 0],
  ])('%s -> %d bytes/s', (text, bytes) => expect(parseRate(text)).toBe(bytes));

  it.each(['', 'fast', '-5M', '5X', 'iB', '5 M B'])('refuses %j', (text) => expect(() => parseRate(text)).toThrow(/not a rate/));
});

describe('BandwidthLimit', () => {
  it('holds the rate across concurrent takers', async () => {
    const limit = new BandwidthLimit(1_000_000);
    const started = performance.now();
    await Promise.all(Array.from({ length: 4 }, () => (async () => { for (let i = 0; i < 5; i++) await limit.take(25_000); })()));
    // 500 KB at 1 MB/s, less the initial burst of 100 KB: at least 0.35 s. Only a lower bound: never a timed upper bound.
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
  });
});
