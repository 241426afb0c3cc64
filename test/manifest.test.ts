import { describe, expect, it } from 'vitest';
import { manifestBlobs, manifestSize, parseManifest } from '../src/store/manifest.js';

const HEX = 'a'.repeat(64);
const manifest = (overrides: Record<string, unknown>) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${HEX}`, size: 10 },
      layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${'b'.repeat(64)}`, size: 20 }],
      ...overrides,
    }),
  );

describe('parseManifest', () => {
  it('keeps the exact bytes and reads config and layers', () => {
    const bytes = manifest({});
    const parsed = parseManifest(bytes, 'm');
    expect(parsed.bytes).toBe(bytes);
    expect(parsed.config.digest.hex).toBe(HEX);
    expect(parsed.layers.map((l) => l.size)).toEqual([20]);
  });

  const layer = (digest: unknown, size: unknown = 1) => ({ layers: [{ mediaType: 'x', digest, size }] });
  it.each([
    ['escaping digest', layer('sha256:../../x'), /invalid digest/],
    ['63 hex digits', layer(`sha256:${'a'.repeat(63)}`), /invalid digest/],
    ['uppercase hex', layer(`sha256:${'A'.repeat(64)}`), /invalid digest/],
    ['dash form', layer(`sha256-${'a'.repeat(64)}`), /invalid digest/],
    ['other algorithm', layer(`sha512:${'a'.repeat(64)}`), /invalid digest/],
    ['digest not a string', layer(42), /invalid digest/],
    ['negative size', layer(`sha256:${HEX}`, -1), /size/],
    ['fractional size', layer(`sha256:${HEX}`, 1.5), /size/],
    ['size as string', layer(`sha256:${HEX}`, '10'), /size/],
    ['layers not a list', { layers: {} }, /layers/],
    ['missing config', { config: undefined }, /config/],
    ['schema version 1', { schemaVersion: 1 }, /schemaVersion/],
  ])('refuses %s, naming the file', (_, overrides, why) => {
    expect(() => parseManifest(manifest(overrides), '/store/manifests/x')).toThrow(why);
    expect(() => parseManifest(manifest(overrides), '/store/manifests/x')).toThrow('/store/manifests/x');
  });

  it('refuses one digest listed with two sizes, naming it', () => {
    const twice = manifest({ layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${HEX}`, size: 20 }] });
    expect(() => parseManifest(twice, '/store/manifests/x')).toThrow(`invalid manifest /store/manifests/x: sha256:${HEX} is listed with two sizes (10 and 20)`);
  });

  it('takes one digest listed twice with the same size', () => {
    const twice = manifest({ layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${HEX}`, size: 10 }] });
    expect(parseManifest(twice, 'm').layers.map((l) => l.digest.hex)).toEqual([HEX]);
  });

  // Ollama's manifest.Size sums config and layers as listed, so `ollama list` counts a repeated digest each time.
  it('sizes a model as ollama list does, a repeated digest counted each time; each blob is still sent once', () => {
    const model = { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${'b'.repeat(64)}`, size: 20 };
    const repeated = parseManifest(manifest({ layers: [model, model, { ...model, digest: `sha256:${HEX}`, size: 10 }] }), 'm');
    expect(manifestSize(repeated)).toBe(10 + 20 + 20 + 10);
    expect(manifestBlobs(repeated).map((d) => d.size)).toEqual([10, 20]);
  });

  it('refuses what is not JSON', () => {
    expect(() => parseManifest(Buffer.from('not json'), 'f')).toThrow(/invalid manifest f: not JSON/);
    expect(() => parseManifest(Buffer.from('[1]'), 'f')).toThrow(/not a JSON object/);
  });
});
