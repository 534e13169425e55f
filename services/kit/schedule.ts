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
