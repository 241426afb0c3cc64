import { PushError, usageError } from '../errors.js';
import { closestNames, type LocalModel, type LocalStore } from '../store/local-store.js';
import { displayName, manifestSegments, type ModelName, parseModelName, sameModelName } from '../store/model-name.js';

/** `*`, `?` and `[` never occur in a model name, so a word with one of them is a shell-style pattern. */
export function isPattern(text: string): boolean {
  return /[*?[]/.test(text);
}

/**
 * A shell-style pattern (`qwen3:*`, `hf.co/*`, `tiny:q[0-9]`) as a matcher of model names, compared
 * case-insensitively (as Ollama compares names) with the name as `ollama list` shows it and with the
 * full `host/namespace/model:tag`.
 */
export function patternMatcher(pattern: string): (name: ModelName) => boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw usageError(`pattern ${JSON.stringify(pattern)} has a [ without its ]`);
      let set = pattern.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      source += `[${set.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  const regexp = new RegExp(`^${source}$`, 'i');
  return (name) => regexp.test(displayName(name)) || regexp.test(`${name.host}/${name.namespace}/${name.model}:${name.tag}`);
}

const spelling = (name: ModelName) => manifestSegments(name).join('/');

/**
 * Resolves names and patterns against the names a store holds (spelled as there): a name matches its
 * exact spelling, else the one equal but for case; a pattern every name it matches. One that matches
 * nothing is a usage error (exit 2) naming it, with close names as suggestions.
 */
export function resolveNames(requested: readonly string[], available: readonly ModelName[], where: string, listHint: string): ModelName[] {
  const chosen: ModelName[] = [];
  const add = (name: ModelName) => chosen.some((c) => spelling(c) === spelling(name)) || chosen.push(name);
  for (const text of requested) {
    if (isPattern(text)) {
      const matches = available.filter(patternMatcher(text));
      if (matches.length === 0) throw usageError(`no model in ${where} matches ${JSON.stringify(text)}; ${listHint}`);
      for (const name of matches) add(name);
      continue;
    }
    const wanted = parseModelName(text);
    const found = available.find((n) => spelling(n) === spelling(wanted)) ?? available.find((n) => sameModelName(n, wanted));
    if (!found) {
      const hint = closestNames(displayName(wanted), available.map(displayName));
      throw new PushError(`model ${displayName(wanted)} is not in ${where}` + (hint.length ? `; did you mean ${hint.join(' or ')}?` : `; ${listHint}`), {
        side: 'usage',
      });
    }
    add(found);
  }
  return chosen;
}

/** The local models `--all` or the names and patterns choose; a name not there is exit 2 with suggestions. */
export async function selectLocalModels(local: LocalStore, request: { all: boolean; names: readonly string[] }): Promise<LocalModel[]> {
  if (request.all && request.names.length > 0) throw usageError('give model names or --all, not both');
  if (!request.all && request.names.length === 0) throw usageError('name at least one model (or a pattern such as \'qwen3:*\'), or pass --all');
  const available = await local.listNames();
  const names = request.all ? available : resolveNames(request.names, available, local.modelsDir, 'run `ollama-push list` to see the local models');
  const models: LocalModel[] = [];
  // readModel finds the exact spelling given first.
  for (const name of names) models.push(await local.readModel(name));
  return models;
}
