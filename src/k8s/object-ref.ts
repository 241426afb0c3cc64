import { usageError } from '../errors.js';

/** A namespaced Kubernetes object as named on the command line: `[NAMESPACE/]NAME`. */
export interface ObjectRef {
  /** Undefined when not given: the current context's namespace applies. */
  readonly namespace: string | undefined;
  readonly name: string;
}

// RFC 1123: namespaces and container names are DNS labels; claim and pod names are DNS subdomains.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Parses `--pvc`/`--pod` values; kubectl only ever sees names that passed these checks. */
export function parseObjectRef(flag: string, text: string, example: string): ObjectRef {
  if (text === '') throw usageError(`--${flag} needs a value, e.g. --${flag} ${example}`);
  const parts = text.split('/');
  const [namespace, name] = parts.length === 1 ? [undefined, parts[0]!] : parts.length === 2 ? [parts[0]!, parts[1]!] : [undefined, ''];
  if ((namespace !== undefined && !DNS_LABEL.test(namespace)) || !DNS_SUBDOMAIN.test(name)) {
    throw usageError(`--${flag} ${JSON.stringify(text)} is not [NAMESPACE/]NAME with Kubernetes names (lowercase letters, digits, -), e.g. --${flag} ${example}`);
  }
  return { namespace, name };
}

/** Checks a container name (`-c`). */
export function parseContainerName(text: string): string {
  if (!DNS_LABEL.test(text)) throw usageError(`--container ${JSON.stringify(text)} is not a container name (lowercase letters, digits, -)`);
  return text;
}
