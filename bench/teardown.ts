/**
 * What to undo when the bench ends, however it ends: a normal finish, an error, Ctrl-C or SIGTERM.
 * Steps run once, last registered first.
 */
const steps: (() => Promise<void> | void)[] = [];
let running: Promise<void> | undefined;

export function onTeardown(step: () => Promise<void> | void): void {
  steps.push(step);
}

export function teardown(): Promise<void> {
  running ??= (async () => {
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (error) {
        process.stderr.write(`bench: cleanup step failed: ${(error as Error).message}\n`);
      }
    }
  })();
  return running;
}

/** Ctrl-C and SIGTERM tear down (stop sshd, remove temp dirs) before exiting with the signal's code. */
export function teardownOnSignals(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void teardown().finally(() => process.exit(code));
    });
  }
}
