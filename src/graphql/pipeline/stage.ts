import type {
  ApolloServerPlugin,
  GraphQLRequestExecutionListener,
  GraphQLRequestListener,
} from "@apollo/server";
import type { GraphQLSchema, ValidationRule } from "graphql";
import type { Context } from "../types.js";

type Listener = GraphQLRequestListener<Context>;

/** One stage of the operation pipeline: what it adds to Apollo, to validation and to the schema. */
export interface Stage {
  /** Its hooks for one operation: a listener shared by every operation, or one made per operation. */
  listener?: Listener | (() => Listener);
  /** Refusals Apollo sees before an operation exists (a failed context, a malformed request). */
  server?: Pick<
    ApolloServerPlugin<Context>,
    "contextCreationDidFail" | "invalidRequestWasReceived"
  >;
  validationRules?: readonly ValidationRule[];
  /** Wraps field resolvers; each stage wraps what the stages before it wrapped. */
  wrapSchema?(schema: GraphQLSchema): GraphQLSchema;
}

const listenerOf = (stage: Stage): Listener | undefined =>
  typeof stage.listener === "function" ? stage.listener() : stage.listener;

type Hook = "didResolveOperation" | "didEncounterErrors" | "willSendResponse";

/**
 * The stages as one Apollo plugin. Apollo starts the hooks of one phase of *different* plugins
 * together (Promise.all), so plugin order would only order their first synchronous steps; here
 * each stage's hook is awaited before the next stage's, so a phase runs in stage order: the
 * analysis sees the principal, the audit event commits before the charge is settled, and the
 * metrics see the final response.
 */
export function composeStages(stages: readonly Stage[]): ApolloServerPlugin<Context> {
  const inOrder =
    (listeners: Listener[], hook: Hook) =>
    async (rc: Parameters<NonNullable<Listener[Hook]>>[0]): Promise<void> => {
      for (const listener of listeners) {
        await (listener[hook] as ((rc: unknown) => Promise<void>) | undefined)?.(rc);
      }
    };
  return {
    requestDidStart: () => {
      const listeners = stages.map(listenerOf).filter((l): l is Listener => l !== undefined);
      return Promise.resolve({
        didResolveOperation: inOrder(listeners, "didResolveOperation"),
        didEncounterErrors: inOrder(listeners, "didEncounterErrors"),
        willSendResponse: inOrder(listeners, "willSendResponse"),
        executionDidStart: async (rc) => {
          const execution: GraphQLRequestExecutionListener<Context>[] = [];
          for (const listener of listeners) {
            const started = await listener.executionDidStart?.(rc);
            if (started) execution.push(started);
          }
          return {
            executionDidEnd: async (error) => {
              for (const listener of execution) await listener.executionDidEnd?.(error);
            },
          };
        },
      });
    },
    contextCreationDidFail: async (rc) => {
      for (const stage of stages) await stage.server?.contextCreationDidFail?.(rc);
    },
    invalidRequestWasReceived: async (rc) => {
      for (const stage of stages) await stage.server?.invalidRequestWasReceived?.(rc);
    },
  };
}

/** A listener as an Apollo plugin of its own (for servers built without the pipeline). */
export const asPlugin = (listener: Listener): ApolloServerPlugin<Context> => ({
  requestDidStart: () => Promise.resolve(listener),
});
