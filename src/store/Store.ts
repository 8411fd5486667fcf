/**
 * The Store service: the run store (RunStore, SQLite) and the artifact folder, opened for the
 * lifetime of a scope and closed when it ends. Artifacts (quantized weights, exported checkpoints)
 * are written by the Python kernels into that folder, content-addressed and atomically
 * (python/polyquant/kernels/quantize.py `write_artifact`); TypeScript only names the folder. Engine code reaches the database through
 * `Store.use(f)`, which turns a failing query into a StoreWriteError naming the operation.
 */
import { Context, Effect, Layer } from "effect"
import { StoreOpenError, StoreWriteError } from "./errors.js"
import { DEFAULT_STORE_PATH, RunStore } from "./RunStore.js"

export interface StoreService {
  readonly db: RunStore
  /** where kernels write their artifacts (`<store folder>/artifacts`) */
  readonly artifactsDir: string
  /** run a synchronous store operation as an Effect; failures become StoreWriteError */
  readonly use: <A>(operation: string, f: (db: RunStore) => A) => Effect.Effect<A, StoreWriteError>
}

export class Store extends Context.Tag("polyquant/Store")<Store, StoreService>() {}

export const makeStoreService = (db: RunStore): StoreService => ({
  db,
  artifactsDir: db.artifactsDir,
  use: <A>(operation: string, f: (db: RunStore) => A) =>
    Effect.try({ try: () => f(db), catch: (e) => new StoreWriteError({ operation, reason: e instanceof Error ? e.message : String(e) }) }).pipe(
      Effect.withSpan(`Store.${operation}`)
    )
})

/** Open the store at `path` (default `.polyquant/polyquant.db`) for the layer's lifetime. */
export const StoreLive = (path: string = DEFAULT_STORE_PATH): Layer.Layer<Store, StoreOpenError> =>
  Layer.scoped(
    Store,
    Effect.acquireRelease(
      Effect.try({
        try: () => RunStore.open(path),
        catch: (e) => (e instanceof StoreOpenError ? e : new StoreOpenError({ path, reason: String(e) }))
      }),
      (db) => Effect.sync(() => db.close())
    ).pipe(Effect.map(makeStoreService))
  )
