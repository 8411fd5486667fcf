/**
 * `TaggedError(tag)`: the base of the workflow errors, shaped like effect's Data.TaggedError (a
 * `_tag` for `Effect.catchTag` and `_tag` checks, the constructor's fields as own properties, and
 * `name` = the tag) without importing effect. `polyquant validate` throws these, and effect/Data
 * alone loads about 150 modules (~0.2 s of its 0.5 s start-up budget).
 *
 * Not given: `yield* new SomeError(...)` inside Effect.gen and structural equality. Code that runs
 * under Effect fails with them through `Effect.fail(error)`, which needs neither.
 */
export interface TaggedErrorConstructor<Tag extends string> {
  new <A extends Record<string, unknown>>(args: { readonly [K in keyof A as K extends "_tag" ? never : K]: A[K] }): Error & { readonly _tag: Tag } & Readonly<A>
}

export const TaggedError = <Tag extends string>(tag: Tag): TaggedErrorConstructor<Tag> => {
  class Tagged extends Error {
    declare readonly _tag: Tag
    constructor(args: Record<string, unknown>) {
      // no message here: each error defines `message` as a getter over its fields
      super()
      Object.assign(this, args)
      // after the fields, as Data.TaggedError orders them (JSON.stringify and inspect show this order)
      ;(this as { _tag: Tag })._tag = tag
    }
  }
  Tagged.prototype.name = tag
  return Tagged as unknown as TaggedErrorConstructor<Tag>
}
