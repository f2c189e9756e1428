import { inArray, or, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { BlindIndex } from "../security/pii.js";

/**
 * The SQL condition "this row's email is `email`", on blind indexes only: the value's hash under
 * each configured key, in the current or the next index column. Outside a key rotation that is
 * one hash; the next column is then empty (and indexed), so the second probe costs nothing.
 */
export function emailIndexMatches(
  blindIndex: BlindIndex,
  columns: { current: PgColumn; next: PgColumn },
  email: string,
): SQL {
  const hashes = blindIndex.emailCandidates(email);
  return or(inArray(columns.current, hashes), inArray(columns.next, hashes))!;
}

/** The stored index columns of an email. */
export function emailIndexColumns(blindIndex: BlindIndex, email: string) {
  return { emailBidx: blindIndex.email(email), emailBidxNext: blindIndex.emailNext(email) };
}
