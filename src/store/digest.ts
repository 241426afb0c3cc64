import { usageError } from '../errors.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** A validated sha256 digest. Only `hex` (64 lowercase hex chars) is ever used to build a path. */
export interface Digest {
  readonly hex: string;
}

export function parseDigest(text: unknown, origin: string): Digest {
  const match = typeof text === 'string' ? DIGEST.exec(text) : null;
  if (!match) {
    throw usageError(`${origin}: invalid digest ${JSON.stringify(text)}: expected sha256:<64 lowercase hex digits>`);
  }
  return { hex: match[1]! };
}

export const digestString = (d: Digest): string => `sha256:${d.hex}`;
export const blobFileName = (d: Digest): string => `sha256-${d.hex}`;
export const shortDigest = (d: Digest): string => d.hex.slice(0, 12);
