/**
 * The dashboard's use cases: the figures kept in memory, read again from their sources when an event
 * says they changed (and on a schedule, see main.ts), and handed to everyone watching when they change.
 * Reading never throws: a source that cannot be read is marked unavailable instead.
 */
import type { Logger } from "@multishop/kit/log";
import type { FigureSources } from "./clients.ts";
import {
  type Figures,
  initialFigures,
  type Source,
  type SourceFigures,
  sources,
  withReading,
  withUnavailable,
} from "./domain.ts";

export interface DashboardDeps {
  sources: FigureSources;
  logger: Logger;
  clock: () => Date;
}

/** What a watch hands out next: figures, "quiet" when none changed in time, "closed" once it ended. */
export type WatchUpdate = Figures | "quiet" | "closed";

export interface FiguresWatch {
  /** The figures as they are first, then after each change; "quiet" after `waitMs` without one. */
  next(waitMs: number): Promise<WatchUpdate>;
  /** Stops watching; a `next` waiting answers "closed". */
  close(): void;
}

interface Watcher {
  notify(figures: Figures): void;
  end(): void;
}

export function createDashboard(deps: DashboardDeps) {
  const { logger, clock } = deps;
  let figures = initialFigures(clock());
  let closed = false;
  const watchers = new Set<Watcher>();
  const readsInFlight = new Set<Promise<void>>();

  function update(next: Figures) {
    if (next === figures) return;
    figures = next;
    for (const watcher of watchers) watcher.notify(next);
  }

  async function read<S extends Source>(source: S) {
    let reading: SourceFigures[S];
    try {
      reading = await deps.sources[source]();
    } catch (error) {
      // Told once when the source goes, not at every read while it stays away.
      const log = figures.unavailable.includes(source) ? logger.debug : logger.warn;
      log("figures source unavailable; its figures keep their last value", {
        source,
        error: error instanceof Error ? error.message : String(error),
      });
      update(withUnavailable(figures, source, clock()));
      return;
    }
    if (figures.unavailable.includes(source)) logger.info("figures source available again", { source });
    // Merged into the figures as they are now: other sources' reads may have landed meanwhile.
    update(withReading(figures, source, reading, clock()));
  }

  /**
   * At most one read of the source in flight; asking during it makes one more read after it, however
   * many ask, so a burst of events costs two reads. The promise settles once the figures include
   * every change made before the asking.
   */
  function coalesced(source: Source): () => Promise<void> {
    let running: Promise<void> | undefined;
    let again = false;
    return () => {
      if (closed) return Promise.resolve();
      if (running) {
        again = true;
        return running;
      }
      const run = (async () => {
        try {
          do {
            again = false;
            await read(source);
          } while (again && !closed);
        } finally {
          // Cleared in the same step as the last check of `again`, so no request falls in between.
          running = undefined;
        }
      })();
      running = run;
      readsInFlight.add(run);
      run.then(() => readsInFlight.delete(run));
      return run;
    };
  }

  const refreshers = Object.fromEntries(sources.map((source) => [source, coalesced(source)])) as Record<
    Source,
    () => Promise<void>
  >;

  const refreshAll = async () => {
    await Promise.all(sources.map((source) => refreshers[source]()));
  };

  return {
    /** The figures as last read; null where a source has not been read yet. */
    figures: (): Figures => figures,

    /** Reads the source again; cheap to call often, and never rejects. */
    refresh: (source: Source) => refreshers[source](),

    refreshAll,

    watch(): FiguresWatch {
      let unseen: Figures | undefined = figures;
      let ended = closed;
      let wake: (() => void) | undefined;
      const watcher: Watcher = {
        notify(next) {
          unseen = next;
          wake?.();
        },
        end() {
          ended = true;
          watchers.delete(watcher);
          wake?.();
        },
      };
      if (!ended) watchers.add(watcher);
      return {
        async next(waitMs) {
          if (!ended && !unseen) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(() => {
                wake = undefined;
                resolve();
              }, waitMs);
              wake = () => {
                wake = undefined;
                clearTimeout(timer);
                resolve();
              };
            });
          }
          if (ended) return "closed";
          const next = unseen ?? "quiet";
          unseen = undefined;
          return next;
        },
        close: watcher.end,
      };
    },

    /** How many watch the figures now (open event streams). */
    watching: () => watchers.size,

    /** Ends every watch, takes no more refreshes, and waits for the reads in flight. */
    async close() {
      closed = true;
      for (const watcher of [...watchers]) watcher.end();
      await Promise.all(readsInFlight);
    },
  };
}

export type Dashboard = ReturnType<typeof createDashboard>;
