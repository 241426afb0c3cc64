import { EXIT, PushError } from '../errors.js';

/**
 * Runs `body` so that Ctrl-C (or SIGTERM) calls `stop` and the failure it causes ends the command with
 * exit 130 and `message` (which says what was kept and how to resume). A second Ctrl-C kills at once.
 */
export async function interruptible<T>(stop: () => void, message: string, body: () => Promise<T>): Promise<T> {
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    stop();
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    return await body();
  } catch (error) {
    if (!interrupted) throw error;
    throw new PushError(message, { side: 'usage', exitCode: EXIT.interrupted, cause: error });
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
