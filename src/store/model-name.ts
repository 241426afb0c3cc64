import { usageError } from '../errors.js';
import { goTrimSpace } from './go-strings.js';

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

type Part = keyof ModelName;
const PARTS: readonly Part[] = ['host', 'namespace', 'model', 'tag'];

// Ollama's types/model/name.go isValidPart: ASCII only, these characters, these lengths.
const PATTERNS: Record<Part, RegExp> = {
  host: /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}$/,
  namespace: /^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$/,
  model: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$/,
  tag: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$/,
};

/**
 * Parses a model name as Ollama's API does: surrounding spaces trimmed, a `:local` or `:cloud` suffix
 * read (internal/modelref), then the name split as types/model ParseName splits it, with defaults for
 * what is absent.
 */
export function parseModelName(text: string): ModelName {
  const invalid = (why: string) =>
    usageError(`invalid model name ${JSON.stringify(text)}: ${why} (expected [host/][namespace/]model[:tag], e.g. qwen3:4b)`);
  const trimmed = goTrimSpace(text);
  if (trimmed === '') throw invalid('empty');
  const source = sourceSuffix(trimmed);
  if (source && sourceSuffix(source.base)) throw invalid('use either :local or :cloud, not both');
  const name = splitName(source ? storedName(source) : trimmed);
  if (name.host.includes('/')) throw invalid('more than 3 slash-separated parts');
  const bad = PARTS.find((part) => !PATTERNS[part].test(name[part]));
  if (bad) throw invalid(`bad ${bad} ${JSON.stringify(name[bad])}`);
  return name;
}

/** The name of a manifest file found at `manifests/<host>/<namespace>/<model>/<tag>`, if Ollama accepts it. */
export function modelNameFromSegments(host: string, namespace: string, model: string, tag: string): ModelName | undefined {
  const name = { host, namespace, model, tag };
  return PARTS.every((part) => PATTERNS[part].test(name[part])) ? name : undefined;
}

interface SourceSuffix {
  readonly base: string;
  readonly source: 'local' | 'cloud';
}

/** modelref parseSourceSuffix: the last ':' part is `local`, `cloud` or `<tag>-cloud`, in any case, spaces allowed. */
function sourceSuffix(text: string): SourceSuffix | undefined {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return undefined;
  const suffix = goTrimSpace(text.slice(colon + 1));
  const lower = suffix.toLowerCase();
  if (lower === 'local' || lower === 'cloud') return { base: text.slice(0, colon), source: lower };
  if (!suffix.includes('/') && lower.endsWith('-cloud')) return { base: text.slice(0, colon + 1) + suffix.slice(0, -'-cloud'.length), source: 'cloud' };
  return undefined;
}

/** modelref NormalizePullName (pull and delete): a cloud model's stub is stored under `<tag>-cloud`, or `cloud`. */
function storedName({ base, source }: SourceSuffix): string {
  if (source === 'local') return base;
  return hasTag(base) ? `${base}-cloud` : `${base}:cloud`;
}

/** A ':' after the last '/' starts the tag; one before it belongs to the host's port. */
const hasTag = (text: string): boolean => text.lastIndexOf(':') > text.lastIndexOf('/');

/** types/model ParseNameBare, merged with the defaults: model, namespace and host taken from the right. */
function splitName(text: string): ModelName {
  const colon = text.lastIndexOf(':');
  const tagged = hasTag(text);
  const parts = (tagged ? text.slice(0, colon) : text).split('/');
  const model = parts.pop()!;
  const namespace = parts.pop() ?? DEFAULT_NAMESPACE;
  const host = parts.length > 0 ? withoutScheme(parts.join('/')) : DEFAULT_HOST;
  return { host, namespace, model, tag: tagged ? text.slice(colon + 1) : DEFAULT_TAG };
}

/** `https://h` -> `h`: the scheme only says how a registry is reached; `scheme://` alone leaves the default host. */
function withoutScheme(host: string): string {
  const scheme = host.indexOf('://');
  return scheme < 0 ? host : host.slice(scheme + 3) || DEFAULT_HOST;
}

/** The name as `ollama list` shows it (DisplayShortest): the default host and namespace, in any case, left out. */
export function displayName(name: ModelName): string {
  const isDefault = (part: string, value: string) => part.toLowerCase() === value;
  const base = !isDefault(name.host, DEFAULT_HOST)
    ? `${name.host}/${name.namespace}/${name.model}`
    : !isDefault(name.namespace, DEFAULT_NAMESPACE)
      ? `${name.namespace}/${name.model}`
      : name.model;
  return `${base}:${name.tag}`;
}

/** `manifests/<host>/<namespace>/<model>/<tag>` as path segments. */
export function manifestSegments(name: ModelName): [string, string, string, string] {
  return [name.host, name.namespace, name.model, name.tag];
}

/** Name.EqualFold: every part compared case-insensitively (parts are ASCII). */
export function sameModelName(a: ModelName, b: ModelName): boolean {
  return PARTS.every((part) => a[part].toLowerCase() === b[part].toLowerCase());
}
