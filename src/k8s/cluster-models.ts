import { PushError, usageError } from '../errors.js';
import { type ModelName, parseModelName } from '../store/model-name.js';
import { Kubectl } from './kubectl.js';
import { parseObjectRef } from './object-ref.js';

/** The ollama-operator's custom resource: one `Model` per model a namespace serves, `spec.image` its name. */
export const MODEL_RESOURCE = 'models.ollama.ayaka.io';

export interface DeclaredModel {
  /** The Model object's name, for messages. */
  readonly object: string;
  /** Its spec.image as written. */
  readonly image: string;
  readonly name: ModelName;
}

/**
 * `--from-cluster`: the `spec.image` of every ollama-operator Model in the namespace of the claim
 * (`--pvc`) or pod (`--pod`), read with the user's kubectl, as the operator's init container pulls them.
 */
export async function declaredModels(flags: {
  readonly pvc?: string | undefined;
  readonly pod?: string | undefined;
  readonly context?: string | undefined;
  readonly kubeconfig?: string | undefined;
}): Promise<{ namespace: string; models: DeclaredModel[] }> {
  if (flags.pvc === undefined && flags.pod === undefined) {
    throw usageError('--from-cluster reads the Models of the namespace of --pvc or --pod; give one of them (e.g. --pvc default/ollama-models-store-pvc)');
  }
  const ref = flags.pvc !== undefined ? parseObjectRef('pvc', flags.pvc, 'default/ollama-models-store-pvc') : parseObjectRef('pod', flags.pod!, 'default/ollama-models-store-0');
  const kubectl = new Kubectl({ context: flags.context, kubeconfig: flags.kubeconfig });
  const namespace = ref.namespace ?? (await kubectl.currentNamespace());
  const words = [MODEL_RESOURCE, '-n', namespace];
  let answer: Awaited<ReturnType<Kubectl['get']>>;
  try {
    answer = await kubectl.get(words);
  } catch (error) {
    if (error instanceof PushError && /doesn't have a resource type|no matches for kind/i.test(error.message)) {
      throw new PushError(`this cluster has no ${MODEL_RESOURCE} resource (is the ollama-operator installed?): ${error.message}`, { side: 'remote', cause: error });
    }
    throw error;
  }
  const items = answer.found ? (answer.object as { items?: unknown }).items : [];
  if (!Array.isArray(items)) throw new PushError(`kubectl get ${words.join(' ')} -o json printed no list`, { side: 'remote' });
  const models: DeclaredModel[] = [];
  for (const item of items) {
    const object = String((item as { metadata?: { name?: unknown } })?.metadata?.name ?? '?');
    const image = (item as { spec?: { image?: unknown } })?.spec?.image;
    if (typeof image !== 'string' || image.trim() === '') {
      throw new PushError(`Model ${namespace}/${object} has no spec.image; fix it, or name the models to sync instead of --from-cluster`, { side: 'usage' });
    }
    let name: ModelName;
    try {
      name = parseModelName(image);
    } catch (error) {
      throw new PushError(`Model ${namespace}/${object}: ${(error as Error).message}`, { side: 'usage', cause: error });
    }
    models.push({ object, image, name });
  }
  return { namespace, models };
}
