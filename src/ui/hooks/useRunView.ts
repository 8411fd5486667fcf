/** The live RunView of a RunViewStore. */
import { useSyncExternalStore } from "react"
import type { RunViewStore } from "../RunViewStore.js"
import type { RunView } from "../state.js"

export const useRunView = (store: RunViewStore): RunView => useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot)
