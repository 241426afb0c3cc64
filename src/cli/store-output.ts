import type { DestinationListing, ListedModel, RemovalReport } from '../destination/destination.js';
import { formatBytes } from '../format.js';
import { displayName, modelNameFromSegments } from '../store/model-name.js';
import { formatTable } from './plan-output.js';

/** `ollama list`'s MODIFIED column: "4 minutes ago", "2 weeks ago". */
export function formatAge(modified: Date | undefined, now = Date.now()): string {
  if (!modified) return '-';
  const seconds = Math.max(0, Math.round((now - modified.getTime()) / 1000));
  const steps: [number, string][] = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [7, 'day'],
    [52, 'week'],
  ];
  let value = seconds;
  for (const [per, unit] of steps) {
    if (value < per) return value <= 1 && unit !== 'second' ? `About a${unit === 'hour' ? 'n' : ''} ${unit} ago` : `${value} ${unit}${value === 1 ? '' : 's'} ago`;
    value = Math.floor(value / per);
  }
  return `${value} year${value === 1 ? '' : 's'} ago`;
}

export function listedModelJson(model: ListedModel) {
  return {
    name: displayName(model.name),
    id: model.id,
    size: model.size,
    ...(model.modified ? { modified: model.modified.toISOString() } : {}),
    ...(model.problem ? { problem: model.problem } : {}),
  };
}

export function listingJson(listing: DestinationListing) {
  return {
    destination: listing.location,
    models: listing.models.map(listedModelJson),
    unreferencedBlobs: listing.unreferenced.map((b) => ({ digest: `sha256:${b.hex}`, size: b.size, olderThanGracePeriod: b.old })),
    unreferencedBytes: listing.unreferenced.reduce((sum, b) => sum + b.size, 0),
    stagedBytes: listing.stagedBytes,
    skipped: listing.skipped,
  };
}

/** The table `ollama list` prints, then what else takes space there (only when there is something). */
export function formatListing(listing: DestinationListing, now = Date.now()): string {
  const rows = listing.models.map((m) => [displayName(m.name), m.id, m.manifest ? formatBytes(m.size) : 'unreadable', formatAge(m.modified, now)]);
  const lines = [formatTable(['NAME', 'ID', 'SIZE', 'MODIFIED'], rows)];
  if (listing.unreferenced.length > 0) {
    const bytes = listing.unreferenced.reduce((sum, b) => sum + b.size, 0);
    const old = listing.unreferenced.filter((b) => b.old).length;
    const n = listing.unreferenced.length;
    lines.push(
      `unreferenced: ${n} blob${n === 1 ? '' : 's'} no model uses, ${formatBytes(bytes)}` +
        (old > 0 ? ` (${old} older than an hour: ollama-push gc removes ${old === 1 ? 'it' : 'them'})` : ' (newer than an hour: a pull or push may be about to use them)'),
    );
  }
  if (listing.stagedBytes > 0) {
    lines.push(`staged: ${formatBytes(listing.stagedBytes)} of unfinished uploads in ${listing.location}/.ollama-push (a push resumes them; ollama-push gc removes abandoned ones)`);
  }
  return lines.join('\n');
}

/** `host/namespace/model/tag` as `ollama list` names it. */
export function pathDisplayName(path: string): string {
  const parts = path.split('/');
  const name = parts.length === 4 ? modelNameFromSegments(parts[0]!, parts[1]!, parts[2]!, parts[3]!) : undefined;
  return name ? displayName(name) : path;
}

export function removalJson(report: RemovalReport) {
  return {
    destination: report.location,
    dryRun: report.dryRun,
    models: report.models.map((m) => ({ name: pathDisplayName(m.path), status: m.outcome })),
    blobs: report.blobs.map((b) => ({ digest: `sha256:${b.hex}`, size: b.size, status: b.outcome })),
    staging: report.staging.map((s) => ({ name: s.name, bytes: s.bytes, status: s.outcome })),
    recovered: report.recovered,
    bytesFreed: report.bytesFreed,
  };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a removal did (or would do), for people: the models, then one line per kind of blob kept, then the bytes. */
export function formatRemoval(report: RemovalReport): string[] {
  const dry = report.dryRun;
  const lines: string[] = [];
  for (const m of report.models) {
    const name = pathDisplayName(m.path);
    lines.push(m.outcome === 'absent' ? `${name} was already gone` : `${dry ? 'would remove' : 'removed'} ${name}`);
  }
  const count = (outcome: string) => report.blobs.filter((b) => b.outcome === outcome);
  const gone = report.blobs.filter((b) => b.outcome === 'removed' || b.outcome === 'would');
  if (dry) for (const b of gone) lines.push(`would remove blob sha256:${b.hex} (${formatBytes(b.size)})`);
  const staged = report.staging.filter((s) => s.outcome !== 'live');
  for (const s of staged) lines.push(`${dry ? 'would remove' : 'removed'} staged ${s.name} (${formatBytes(s.bytes)})`);
  if (report.recovered > 0) lines.push(`put back ${plural(report.recovered, 'blob')} an interrupted removal had set aside`);
  const used = count('used');
  if (used.length > 0) lines.push(`kept ${plural(used.length, 'blob')} that other models use`);
  const held = count('held');
  if (held.length > 0) lines.push(`kept ${plural(held.length, 'blob')} a push is writing or has staged (${held.map((b) => `sha256:${b.hex.slice(0, 12)}`).join(', ')})`);
  const restored = count('restored');
  if (restored.length > 0) lines.push(`kept ${plural(restored.length, 'blob')} that a model published meanwhile uses`);
  const young = count('young');
  if (young.length > 0) {
    const bytes = young.reduce((sum, b) => sum + b.size, 0);
    lines.push(`kept ${plural(young.length, 'unreferenced blob')} newer than an hour (${formatBytes(bytes)}; a pull or push may be about to use them)`);
  }
  const live = report.staging.filter((s) => s.outcome === 'live');
  if (live.length > 0) lines.push(`kept ${plural(live.length, 'staged upload')} a push is writing`);
  const files = gone.length + staged.length;
  const what = [gone.length > 0 ? plural(gone.length, 'blob') : '', staged.length > 0 ? plural(staged.length, 'staged upload') : ''].filter(Boolean).join(' and ');
  lines.push(files === 0 ? `nothing to remove in ${report.location}` : `${dry ? 'would free' : 'freed'} ${formatBytes(report.bytesFreed)} in ${report.location} (${what})`);
  return lines;
}
