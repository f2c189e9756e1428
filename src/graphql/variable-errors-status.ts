import type { ApolloServerPlugin, BaseContext, GraphQLRequestListener } from "@apollo/server";
import { ErrorCode } from "./errors.js";

/**
 * Variables that do not fit the operation's types are BAD_USER_INPUT, answered with 200 under
 * application/json like every other BAD_USER_INPUT (BEHAVIOUR.md; the route still answers 400
 * under application/graphql-response+json, as GraphQL over HTTP asks). Apollo Server 5 answers
 * them with 400, and its switch back to 200 (`status400ForVariableCoercionErrors: false`) is
 * deprecated, to be removed in v6: this keeps the contract without it.
 *
 * Apollo's 400 is set for an executed operation whose result has errors and no `data`, which
 * only variable coercion produces; the code check keeps any other 400 (parse, validation,
 * limits) as it is.
 */
export function variableErrorsStatusPlugin(): ApolloServerPlugin {
  // One listener for every request: it keeps no per-request state.
  const listener: GraphQLRequestListener<BaseContext> = {
    willSendResponse: ({ response }) => {
      if (response.http.status === 400 && response.body.kind === "single") {
        const { data, errors } = response.body.singleResult;
        const onlyBadVariables =
          data === undefined &&
          errors !== undefined &&
          errors.length > 0 &&
          errors.every((error) => error.extensions?.code === ErrorCode.BAD_USER_INPUT);
        if (onlyBadVariables) response.http.status = 200;
      }
      return Promise.resolve();
    },
  };
  return { requestDidStart: () => Promise.resolve(listener) };
}
