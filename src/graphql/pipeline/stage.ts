import type {
  ApolloServerPlugin,
  GraphQLRequestContext,
  GraphQLRequestExecutionListener,
  GraphQLRequestListener,
} from "@apollo/server";
import type { GraphQLSchema, ValidationRule } from "graphql";
import type { Context } from "../types.js";

type Listener = GraphQLRequestListener<Context>;

/** One stage of the operation pipeline: what it adds to Apollo, to validation and to the schema. */
export interface Stage {
  /** Its hooks, shared by every operation (per-operation state lives in the operation's run). */
  listener?: Listener;
  /** Called as each operation starts (before any hook), with Apollo's request context. */
  started?: (rc: GraphQLRequestContext<Context>) => void;
  /** Refusals Apollo sees before an operation exists (a failed context, a malformed request). */
  server?: Pick<
    ApolloServerPlugin<Context>,
    "contextCreationDidFail" | "invalidRequestWasReceived"
  >;
  validationRules?: readonly ValidationRule[];
  /** Wraps field resolvers; each stage wraps what the stages before it wrapped. */
  wrapSchema?(schema: GraphQLSchema): GraphQLSchema;
}

type Hook = "didResolveOperation" | "didEncounterErrors" | "willSendResponse";
type HookFn = (rc: never) => Promise<void>;

/** The stages' hooks of one phase as one hook that awaits each in turn (none if none has one). */
function inOrder(listeners: readonly Listener[], hook: Hook): HookFn | undefined {
  const having = listeners.filter((l) => l[hook] !== undefined);
  if (having.length === 0) return undefined;
  return async (rc) => {
    // called on its listener, as Apollo would
    for (const l of having) await (l as Record<Hook, HookFn>)[hook](rc);
  };
}

/**
 * The stages as one Apollo plugin. Apollo starts the hooks of one phase of *different* plugins
 * together (Promise.all), so plugin order would only order their first synchronous steps; here
 * each stage's hook is awaited before the next stage's, so a phase runs in stage order: the
 * analysis sees the principal, the audit event commits before the charge is settled, and the
 * metrics see the final response. Composed once: an operation pays only for the hooks that exist.
 */
export function composeStages(stages: readonly Stage[]): ApolloServerPlugin<Context> {
  const listeners = stages.flatMap((stage) => (stage.listener ? [stage.listener] : []));
  const starters = stages.flatMap((stage) => (stage.started ? [stage.started] : []));
  const executions = listeners.filter((l) => l.executionDidStart !== undefined);
  const responders = listeners.filter((l) => l.responseForOperation !== undefined);
  const listener: Listener = {
    didResolveOperation: inOrder(listeners, "didResolveOperation"),
    didEncounterErrors: inOrder(listeners, "didEncounterErrors"),
    willSendResponse: inOrder(listeners, "willSendResponse"),
    // The first stage that answers an operation itself spares it execution (and later stages').
    ...(responders.length > 0 && {
      responseForOperation: async (rc) => {
        for (const l of responders) {
          const response = await l.responseForOperation!(rc);
          if (response) return response;
        }
        return null;
      },
    }),
    ...(executions.length > 0 && {
      executionDidStart: async (rc) => {
        const ends: GraphQLRequestExecutionListener<Context>[] = [];
        for (const l of executions) {
          const started = await l.executionDidStart!(rc);
          if (started) ends.push(started);
        }
        return {
          executionDidEnd: async (error) => {
            for (const end of ends) await end.executionDidEnd?.(error);
          },
        };
      },
    }),
  };
  const started = Promise.resolve(listener);
  return {
    requestDidStart: (rc) => {
      for (const start of starters) start(rc);
      return started;
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
