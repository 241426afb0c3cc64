import { describe, expect, it } from 'vitest';
import { turnOrder } from './harness/turn-order.js';

// The bench's methods take turns in an order where each runs right after each other one equally often:
// a run that slows the next one (rsync right after an ollama-push run did) must not always slow the same one.
describe('the order the bench methods take turns in', () => {
  it.each([2, 3, 4, 5, 6])('puts each of %i methods right after each other one equally often, and each first as often', (n) => {
    const items = Array.from({ length: n }, (_, i) => i);
    const rows = n % 2 ? 2 * n : n;
    const after = new Map<string, number>();
    const firsts = new Map<number, number>();
    for (let round = 0; round < rows; round++) {
      const order = turnOrder(items, round);
      expect([...order].sort((a, b) => a - b)).toEqual(items);
      firsts.set(order[0]!, (firsts.get(order[0]!) ?? 0) + 1);
      for (let i = 1; i < n; i++) after.set(`${order[i - 1]}>${order[i]}`, (after.get(`${order[i - 1]}>${order[i]}`) ?? 0) + 1);
    }
    expect(after.size).toBe(n * (n - 1));
    expect(new Set(after.values()).size).toBe(1);
    expect(new Set(firsts.values()).size).toBe(1);
    expect(firsts.size).toBe(n);
  });

  it('starts over after its rows; the first round starts with the first two as given', () => {
    const items = ['ollama-push', 'rsync', 'scp', 'ssh-cat'];
    expect(turnOrder(items, 0)).toEqual(['ollama-push', 'rsync', 'ssh-cat', 'scp']);
    expect(turnOrder(items, 4)).toEqual(turnOrder(items, 0));
    expect(turnOrder(items, 1)).not.toEqual(turnOrder(items, 0));
  });
});
