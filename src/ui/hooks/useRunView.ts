/** The live RunView of a RunStore. */
import { useSyncExternalStore } from "react"
import type { RunStore } from "../RunStore.js"
import type { RunView } from "../state.js"

export const useRunView = (store: RunStore): RunView => useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot)
