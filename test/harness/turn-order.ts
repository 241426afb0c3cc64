/**
 * The order of one round of the bench: a row of a Williams design, over whose rows each item comes first
 * equally often and right after each other item equally often (n rows for an even n; 2n for an odd n,
 * each row and its reverse).
 */
export function turnOrder<T>(items: readonly T[], round: number): T[] {
  const n = items.length;
  // 0, 1, n-1, 2, n-2, ...: shifted by the row, every step between neighbours occurs once.
  const first = Array.from({ length: n }, (_, j) => (j % 2 ? (j + 1) / 2 : (n - j / 2) % n));
  const rows = n % 2 ? 2 * n : n;
  const row = round % rows;
  const order = first.map((k) => items[(k + row) % n]!);
  return row >= n ? order.reverse() : order;
}
