import Negotiator from "negotiator";
import { ErrorCode } from "../errors.js";

/**
 * What a GraphQL answer can be sent as, exactly as Apollo offers them (charset included: an
 * Accept entry with a parameter matches only an offer with the same parameter).
 */
const ANSWER_TYPES = [
  "application/json; charset=utf-8",
  "application/graphql-response+json; charset=utf-8",
];

/** A request that sends an operation (a GET without one is a browser asking for a page). */
function sendsOperation(request: { method: string; url: string }): boolean {
  if (request.method !== "GET") return true;
  const params = new URL(request.url, "http://localhost/").searchParams;
  return params.has("query") || params.has("documentId");
}

/**
 * A request whose Accept header allows no answer type is refused before anything runs: Apollo
 * would execute it (a mutation commits) and only then answer 406.
 */
export function unacceptableAnswerRefusal(request: {
  method: string;
  url: string;
  headers: { accept?: string };
}) {
  const { accept } = request.headers;
  if (accept === undefined || accept.trim() === "" || !sendsOperation(request)) return undefined;
  if (new Negotiator({ headers: { accept } }).mediaType(ANSWER_TYPES)) return undefined;
  return {
    status: 406,
    message: "The Accept header must allow application/json or application/graphql-response+json",
    code: ErrorCode.BAD_REQUEST,
  };
}
