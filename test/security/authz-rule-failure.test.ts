import { execute, parse } from "graphql";
import { describe, expect, it } from "vitest";
import type { Context } from "../../src/graphql/types.js";
import { buildApiSchema } from "../../src/graphql/schema.js";
import { newAuthzState } from "../../src/security/authz/state.js";

describe("a rule that fails", () => {
  it("denies with the generic FORBIDDEN error, logs the cause and never runs the resolver", async () => {
    const schema = await buildApiSchema();
    const logged: { obj: Record<string, unknown>; msg: string }[] = [];
    let resolverRan = false;
    const context = {
      // A principal whose every property read throws: the rule cannot decide.
      principal: new Proxy(
        {},
        {
          get() {
            throw new Error("secret detail from a broken principal");
          },
        },
      ),
      authz: newAuthzState(),
      services: {
        logger: { error: (obj: Record<string, unknown>, msg: string) => logged.push({ obj, msg }) },
      },
      loaders: {
        organization: {
          load: () => {
            resolverRan = true;
            return Promise.resolve(undefined);
          },
        },
      },
    } as unknown as Context;

    const result = await execute({
      schema,
      document: parse(`{ __typename organization { name } }`),
      contextValue: context,
    });

    expect(result.data).toEqual({ __typename: "Query", organization: null });
    expect(result.errors?.map((e) => [e.message, e.path, e.extensions.code])).toEqual([
      ["Not authorized", ["organization"], "FORBIDDEN"],
    ]);
    expect(JSON.stringify(result)).not.toContain("secret detail");
    expect(resolverRan).toBe(false);
    expect(logged.map((l) => l.obj.field)).toEqual(["Query.organization"]);
  });
});
