/**
 * Runs `task` every `intervalMs` after the previous run ended, so runs never overlap however long one
 * takes. `stop` cancels the next run and waits for one in progress.
 */
export function repeat(intervalMs: number, task: () => Promise<void>): { stop(): Promise<void> } {
  let stopped = false;
  let running = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      running = task().finally(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/**
 * The promise, or a rejection saying what did not happen in time once `ms` have passed; the timer
 * never outlives the promise.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, whatFailed: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${whatFailed} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
