import { describe, expect, it } from 'vitest';
import { batches } from '../src/remote/small-blobs.js';
import { parseDigest } from '../src/store/digest.js';
import { planBlob } from '../src/transfer/plan.js';

const MiB = 1024 * 1024;

function blobsOf(sizes: readonly number[]) {
  return sizes.map((size, i) =>
    planBlob({ digest: parseDigest(`sha256:${i.toString(16).padStart(64, '0')}`, 'test'), size, mediaType: 'application/vnd.ollama.image.tensor' }, undefined, ['m'], 64 * MiB),
  );
}

describe('batches of small blobs', () => {
  it('splits a per-tensor model into equal batches, a multiple of the channels, none over 512 MiB', () => {
    // 3,000 tensors from 1 KiB to 4 MiB, most of them small, as the benchmark's model.
    let seed = 7;
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const sizes = Array.from({ length: 3000 }, () => 1024 + Math.floor(random() ** 4 * (4 * MiB - 1024)));
    const blobs = blobsOf(sizes);
    const all = batches(blobs, 4);
    const bytes = all.map((batch) => batch.reduce((sum, blob) => sum + blob.descriptor.size, 0));
    expect(all.flat()).toEqual(blobs);
    expect(all.length % 4).toBe(0);
    expect(Math.max(...bytes)).toBeLessThanOrEqual(512 * MiB);
    // The last batch is not a remainder: every batch is within one blob of the same size.
    expect(Math.max(...bytes) - Math.min(...bytes)).toBeLessThan(2 * 4 * MiB);
  });

  it("keeps an ordinary model's few small blobs in one batch (one command)", () => {
    expect(batches(blobsOf([120, 1500, 90, 11_000]), 4)).toHaveLength(1);
  });

  it('starts a new batch every 4,096 blobs however small they are', () => {
    expect(batches(blobsOf(Array.from({ length: 5000 }, () => 100)), 1).map((b) => b.length)).toEqual([4096, 904]);
  });
});
