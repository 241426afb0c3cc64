import { usageError } from '../errors.js';
import type { ModelName } from '../store/model-name.js';

/** Where `--registry HOST[:PORT][/NAMESPACE]` points. */
export interface RegistryAddress {
  /** `host[:port]`, lowercased: the first part of every name Ollama pulls from it. */
  readonly host: string;
  /** Every model goes under this one namespace; undefined keeps each model's own namespace. */
  readonly namespace: string | undefined;
  /** Plain HTTP (--insecure, or an `http://` prefix). */
  readonly insecure: boolean;
}

/** A model's place in the registry. */
export interface RegistryReference {
  /** `namespace/model`, lowercased (the OCI spec allows no capitals). */
  readonly repository: string;
  readonly tag: string;
  /** `host[:port]/namespace/model:tag`: what goes in a Model's `image` or after `ollama pull`. */
  readonly pullName: string;
}

// Ollama's types/model/name.go: a host part, and a namespace part (no dots).
const OLLAMA_HOST = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}$/;
const OLLAMA_NAMESPACE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$/;
// The OCI distribution spec: one path component of a repository name, and a tag.
const OCI_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * Parses `--registry`: `HOST[:PORT][/NAMESPACE]`, optionally after `https://` (or `http://`, which
 * means plain HTTP as it does for Ollama). Ollama pulls `host/namespace/model:tag` and no deeper
 * path, so NAMESPACE is one part.
 */
export function parseRegistryAddress(text: string, insecure = false): RegistryAddress {
  const invalid = (why: string) => usageError(`invalid --registry ${JSON.stringify(text)}: ${why} (expected HOST[:PORT][/NAMESPACE], e.g. registry.lan:5000)`);
  let rest = text.trim();
  const scheme = /^(https?):\/\//i.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  rest = rest.replace(/\/+$/, '');
  const [host = '', namespace, ...deeper] = rest.split('/');
  if (deeper.length > 0) throw invalid('Ollama pulls host/namespace/model:tag, so at most one namespace part can follow the host');
  if (!OLLAMA_HOST.test(host)) throw invalid(`bad host ${JSON.stringify(host)}`);
  const port = /:(\d*)$/.exec(host);
  if (host.split(':').length > 2 || (port && !(Number(port[1]) >= 1 && Number(port[1]) <= 65535))) throw invalid(`bad port in ${JSON.stringify(host)}`);
  if (namespace !== undefined) {
    if (!OLLAMA_NAMESPACE.test(namespace)) throw invalid(`bad namespace ${JSON.stringify(namespace)}: Ollama takes letters, digits, _ and -`);
    if (!OCI_COMPONENT.test(namespace.toLowerCase())) throw invalid(`namespace ${JSON.stringify(namespace)} is not a valid OCI repository path component`);
  }
  return {
    host: host.toLowerCase(),
    namespace: namespace?.toLowerCase(),
    insecure: insecure || scheme?.[1]?.toLowerCase() === 'http',
  };
}

/**
 * Where a model goes: it keeps its namespace (or takes --registry's), model and tag under the
 * registry host. Repository names are lowercased; one Ollama cannot pull by the OCI rules is refused.
 */
export function registryReference(address: RegistryAddress, name: ModelName): RegistryReference {
  const namespace = (address.namespace ?? name.namespace).toLowerCase();
  const model = name.model.toLowerCase();
  const repository = `${namespace}/${model}`;
  for (const part of [namespace, model]) {
    if (!OCI_COMPONENT.test(part)) {
      throw usageError(
        `cannot push ${name.namespace}/${name.model} to a registry: repository ${JSON.stringify(repository)} is not a valid OCI name ` +
          `(each part lowercase letters and digits, with single . _ __ or - between them)`,
      );
    }
  }
  if (!OCI_TAG.test(name.tag)) throw usageError(`cannot push tag ${JSON.stringify(name.tag)} to a registry: not a valid OCI tag`);
  return { repository, tag: name.tag, pullName: `${address.host}/${repository}:${name.tag}` };
}

/** `registry.lan:5000` or `registry.lan:5000/models`: where models land, for messages. */
export function registryLocation(address: RegistryAddress): string {
  return address.namespace === undefined ? address.host : `${address.host}/${address.namespace}`;
}

/** The base URL of the registry's API (`https://host[:port]`). */
export function registryBaseUrl(address: RegistryAddress): URL {
  return new URL(`${address.insecure ? 'http' : 'https'}://${address.host}`);
}
