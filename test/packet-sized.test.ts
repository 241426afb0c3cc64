import { describe, expect, it } from 'vitest';
import { packetSized } from '../src/transport/packet-sized.js';

async function cut(chunks: Buffer[], size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of packetSized((async function* () { yield* chunks; })(), size)) out.push(chunk);
  return out;
}

describe('packetSized: a stream re-cut into whole packets', () => {
  it('keeps every byte in order, cuts at multiples of the size, and leaves only the end shorter', async () => {
    const chunks = [3, 512, 70, 9000, 0, 1, 4096, 20000, 5].map((n, i) => Buffer.alloc(n, 97 + i));
    const out = await cut(chunks, 4096);
    expect(Buffer.concat(out)).toEqual(Buffer.concat(chunks));
    for (const chunk of out.slice(0, -1)) expect(chunk.length % 4096).toBe(0);
    expect(out.at(-1)!.length).toBeGreaterThan(0);
  });

  it('passes a large aligned chunk on without copying it', async () => {
    const big = Buffer.alloc(8192, 1);
    const [first] = await cut([big], 4096);
    expect(first!.buffer).toBe(big.buffer);
    expect(first!.length).toBe(8192);
  });

  it('gives nothing for nothing', async () => {
    expect(await cut([Buffer.alloc(0)], 4096)).toEqual([]);
  });
});
