import { usageError } from '../errors.js';

export const DEFAULT_HOST = 'registry.ollama.ai';
export const DEFAULT_NAMESPACE = 'library';
export const DEFAULT_TAG = 'latest';

/** A fully qualified Ollama model name; every part is validated, so it is safe to use as a path segment. */
export interface ModelName {
  readonly host: string;
  readonly namespace: string;
  readonly model: string;
  readonly tag: string;
}

// Ollama's types/model/name.go: the part patterns.
const HOST = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}$/;
const NAMESPACE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$/;
const MODEL_OR_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$/;

/**
 * Parses a model name the way Ollama does: the tag is cut at the last ':' only when it follows the
 * last '/', then model, namespace and host are taken from the right, with defaults for what is absent.
 */
export function parseModelName(text: string): ModelName {
  const invalid = (why: string) =>
    usageError(`invalid model name ${JSON.stringify(text)}: ${why} (expected [host/][namespace/]model[:tag], e.g. qwen3:4b)`);
  let rest = text.trim();
  let tag = DEFAULT_TAG;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  if (parts.length > 3) throw invalid('more than 3 slash-separated parts');
  const model = parts.pop() ?? '';
  const namespace = parts.pop() ?? DEFAULT_NAMESPACE;
  const host = parts.pop() ?? DEFAULT_HOST;
  if (!HOST.test(host)) throw invalid(`bad host ${JSON.stringify(host)}`);
  if (!NAMESPACE.test(namespace)) throw invalid(`bad namespace ${JSON.stringify(namespace)}`);
  if (!MODEL_OR_TAG.test(model)) throw invalid(`bad model ${JSON.stringify(model)}`);
  if (!MODEL_OR_TAG.test(tag)) throw invalid(`bad tag ${JSON.stringify(tag)}`);
  return { host, namespace, model, tag };
}

/** The name as `ollama list` shows it: defaults left out. */
export function displayName(name: ModelName): string {
  const base =
    name.host === DEFAULT_HOST
      ? name.namespace === DEFAULT_NAMESPACE
        ? name.model
        : `${name.namespace}/${name.model}`
      : `${name.host}/${name.namespace}/${name.model}`;
  return `${base}:${name.tag}`;
}

/** `manifests/<host>/<namespace>/<model>/<tag>` as path segments. */
export function manifestSegments(name: ModelName): [string, string, string, string] {
  return [name.host, name.namespace, name.model, name.tag];
}

export function sameModelName(a: ModelName, b: ModelName): boolean {
  return manifestSegments(a).join('/').toLowerCase() === manifestSegments(b).join('/').toLowerCase();
}
