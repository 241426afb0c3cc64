import type { LocalModel } from '../store/local-store.js';
import { digestString, shortDigest } from '../store/digest.js';
import { layerType, manifestId, manifestSize } from '../store/manifest.js';
import { displayName } from '../store/model-name.js';
import { formatBytes } from '../format.js';
import { type BlobPlan, type ManifestPlan, type TransferPlan, upToDate } from '../transfer/plan.js';

export function modelJson(model: LocalModel) {
  return { name: displayName(model.name), id: manifestId(model.manifest), size: manifestSize(model.manifest) };
}

export function blobJson(blob: BlobPlan) {
  return {
    digest: digestString(blob.descriptor.digest),
    size: blob.descriptor.size,
    mediaType: blob.descriptor.mediaType,
    status: blob.status,
    stagedBytes: blob.stagedBytes,
    models: blob.models,
  };
}


export function formatPlanTable(plan: TransferPlan): string {
  const rows = plan.blobs.map((b) => [
    shortDigest(b.descriptor.digest),
    layerType(b.descriptor.mediaType),
    formatBytes(b.descriptor.size),
    b.status === 'partial' ? `partial (${formatBytes(b.stagedBytes)} staged)` : b.status,
  ]);
  return formatTable(['BLOB', 'TYPE', 'SIZE', 'STATUS'], rows);
}

const MANIFEST_STATUS: Record<ManifestPlan['status'], string> = {
  present: 'present',
  missing: 'missing (would be published)',
  different: 'different (another version is published; it would be replaced)',
};

/** One line per requested model: whether the destination has its manifest, byte for byte. */
export function formatManifestTable(plan: TransferPlan): string {
  return formatTable(['MODEL', 'MANIFEST'], plan.manifests.map((m) => [m.model, MANIFEST_STATUS[m.status]]));
}

export function planSummary(plan: TransferPlan, verb: string): string {
  const present = plan.blobs.filter((b) => b.status === 'present').length;
  const manifests = plan.manifests.filter((m) => m.status === 'present').length;
  const counts = `${present} of ${plan.blobs.length} blobs present, ${manifests} of ${plan.manifests.length} manifests`;
  if (upToDate(plan)) return `up to date: ${counts}`;
  return `${verb} ${formatBytes(plan.bytesToSend)} of ${formatBytes(plan.totalBytes)}; ${counts}`;
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
