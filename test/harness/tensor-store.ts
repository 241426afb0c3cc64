import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const TENSOR_MEDIA_TYPE = 'application/vnd.ollama.image.tensor';
const SMALL_BLOB_MAX = 1024 * 1024;

export interface TensorStoreShape {
  /** Tensor blobs (the config blob comes on top). */
  readonly blobs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
}

export interface TensorStore {
  readonly modelsDir: string;
  /** Model names as the CLI takes them. */
  readonly models: readonly string[];
  /** Bytes of every file in blobs/ and manifests/. */
  readonly bytes: number;
  /** Files in blobs/: the tensors and the config. */
  readonly blobCount: number;
  /** Bytes of those files. */
  readonly blobBytes: number;
  readonly medianBlobBytes: number;
  /** Tensors larger than 1 MiB. */
  readonly blobsOver1MiB: number;
}

/**
 * Writes a per-tensor model as Ollama (0.14 and later) stores a safetensors import: one
 * `application/vnd.ollama.image.tensor` layer with a `name` per tensor. Sizes run from minBytes to maxBytes,
 * small ones mostly, like a model's norms, biases and projections: minBytes * (maxBytes / minBytes)^(u^2),
 * u uniform, from a fixed seed (the same sizes every run); contents are random (incompressible).
 */
export async function writeTensorStore(modelsDir: string, shape: TensorStoreShape): Promise<TensorStore> {
  const blobsDir = join(modelsDir, 'blobs');
  await mkdir(blobsDir, { recursive: true });
  const random = lcg(14);
  const sizes = Array.from({ length: shape.blobs }, () => Math.round(shape.minBytes * (shape.maxBytes / shape.minBytes) ** (random() ** 2)));
  const layers: object[] = [];
  let blobBytes = 0;
  for (const [i, size] of sizes.entries()) {
    const content = randomFillSync(Buffer.allocUnsafe(size));
    const hex = await writeBlob(blobsDir, content);
    blobBytes += size;
    layers.push({ mediaType: TENSOR_MEDIA_TYPE, digest: `sha256:${hex}`, size, name: tensorName(i) });
  }
  const configBytes = Buffer.from(JSON.stringify({ model_format: 'safetensors', model_family: 'bench', architecture: 'BenchForCausalLM', tensors: shape.blobs }));
  const configHex = await writeBlob(blobsDir, configBytes);
  blobBytes += configBytes.length;
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${configHex}`, size: configBytes.length },
    layers,
  });
  const file = join(modelsDir, 'manifests', 'registry.ollama.ai', 'library', 'bench-tensor', 'latest');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, manifest);
  const sorted = [...sizes].sort((a, b) => a - b);
  return {
    modelsDir,
    models: ['bench-tensor:latest'],
    bytes: blobBytes + Buffer.byteLength(manifest),
    blobCount: shape.blobs + 1,
    blobBytes,
    medianBlobBytes: sorted[Math.floor(sorted.length / 2)] ?? 0,
    blobsOver1MiB: sizes.filter((s) => s > SMALL_BLOB_MAX).length,
  };
}

async function writeBlob(blobsDir: string, content: Buffer): Promise<string> {
  const hex = createHash('sha256').update(content).digest('hex');
  await writeFile(join(blobsDir, `sha256-${hex}`), content);
  return hex;
}

/** Names like a transformer's: 12 tensors per layer, then the next layer. */
function tensorName(i: number): string {
  const parts = ['input_layernorm.weight', 'post_attention_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight',
    'self_attn.o_proj.weight', 'self_attn.q_norm.weight', 'self_attn.k_norm.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight', 'mlp.bias'];
  return `model.layers.${Math.floor(i / parts.length)}.${parts[i % parts.length]}`;
}

/** A small seeded generator: the same sizes on every machine. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}
