/** Whether a resolver's result is a promise (or any thenable) that graphql-js will await. */
export const isPromiseLike = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | null)?.then === "function";
