/** A grouped bar chart (one group per scenario, one bar per method) as a standalone SVG, no dependency. */

export interface Bar {
  readonly method: string;
  readonly scenario: string;
  readonly mbPerSecond: number;
}

const COLORS = ['#2f6db5', '#e08a1e', '#4a9a4a', '#a14ca1', '#c0392b', '#7f8c8d'];
/** At least this wide; wider with more groups, so bars keep their width. */
const MIN_WIDTH = 760;
const GROUP_WIDTH = 150;
const HEIGHT = 380;
const MARGIN = { top: 48, right: 160, bottom: 44, left: 64 };
const TICKS = 5;

export function barChartSvg(bars: readonly Bar[], title: string): string {
  const methods = unique(bars.map((b) => b.method));
  const scenarios = unique(bars.map((b) => b.scenario));
  const width = Math.max(MIN_WIDTH, MARGIN.left + MARGIN.right + scenarios.length * GROUP_WIDTH);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = niceCeiling(Math.max(1, ...bars.map((b) => b.mbPerSecond)));
  const y = (v: number) => MARGIN.top + plotH - (v / top) * plotH;
  const groupW = plotW / scenarios.length;
  const barW = (groupW * 0.8) / methods.length;

  const parts: string[] = [
    `<rect width="${width}" height="${HEIGHT}" fill="#fff"/>`,
    text(MARGIN.left, 24, title, 'start', 14, 'bold'),
  ];
  for (let i = 0; i <= TICKS; i++) {
    const v = (top / TICKS) * i;
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      text(MARGIN.left - 8, y(v) + 4, String(Math.round(v)), 'end', 11),
    );
  }
  parts.push(text(16, MARGIN.top + plotH / 2, 'MB/s', 'middle', 12, 'normal', `rotate(-90 16 ${MARGIN.top + plotH / 2})`));
  scenarios.forEach((scenario, g) => {
    const left = MARGIN.left + g * groupW + groupW * 0.1;
    methods.forEach((method, m) => {
      const bar = bars.find((b) => b.method === method && b.scenario === scenario);
      if (!bar) return;
      const x = left + m * barW;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(bar.mbPerSecond).toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${(MARGIN.top + plotH - y(bar.mbPerSecond)).toFixed(1)}" fill="${COLORS[m % COLORS.length]}"/>`,
        text(x + (barW - 4) / 2, y(bar.mbPerSecond) - 4, bar.mbPerSecond.toFixed(bar.mbPerSecond < 10 ? 1 : 0), 'middle', 11),
      );
    });
    parts.push(text(MARGIN.left + g * groupW + groupW / 2, HEIGHT - MARGIN.bottom + 20, scenario, 'middle', 13));
  });
  methods.forEach((method, m) => {
    const ly = MARGIN.top + 8 + m * 22;
    parts.push(
      `<rect x="${width - MARGIN.right + 20}" y="${ly - 10}" width="12" height="12" fill="${COLORS[m % COLORS.length]}"/>`,
      text(width - MARGIN.right + 38, ly, method, 'start', 12),
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" font-family="sans-serif">\n${parts.join('\n')}\n</svg>\n`;
}

function text(x: number, y: number, content: string, anchor: 'start' | 'middle' | 'end', size: number, weight = 'normal', transform?: string): string {
  const extra = transform ? ` transform="${transform}"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" font-size="${size}" font-weight="${weight}"${extra}>${escapeXml(content)}</text>`;
}

/** The smallest of 1, 2, 2.5, 5 times a power of ten that is at least v. */
function niceCeiling(v: number): number {
  const power = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].find((f) => f * power >= v) ?? 10) * power;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
