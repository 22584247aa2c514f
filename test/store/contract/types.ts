// What every contract suite takes: a name for the adapter and a factory that
// makes a fresh, opened, empty store and a cleanup that closes and removes it.

export interface Made<S> {
  store: S;
  cleanup(): Promise<void>;
}

export type Factory<S> = () => Promise<Made<S>>;
