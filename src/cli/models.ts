import { LocalStore } from '../store/local-store.js';
import type { LocalModel } from '../store/local-store.js';
import { defaultModelsDir } from '../store/models-dir.js';
import { parseModelName } from '../store/model-name.js';
import type { LocalArgs } from './options.js';

export function openLocalStore(args: LocalArgs): LocalStore {
  return new LocalStore(args['models-dir'] ?? defaultModelsDir());
}

/** Parses every name first (a bad one is a usage error before anything is read), then reads each model. */
export async function readModels(local: LocalStore, names: readonly string[]): Promise<LocalModel[]> {
  const parsed = names.map(parseModelName);
  const models: LocalModel[] = [];
  for (const name of parsed) models.push(await local.readModel(name));
  return models;
}
