import { ErrorCode } from "../../graphql/errors.js";
import { CREDENTIAL_FIELDS } from "../limits/credential-fields.js";

/**
 * Whether the error a field ended with is an authorization denial: FORBIDDEN to a signed-in
 * principal, UNAUTHENTICATED to an anonymous caller. A credential mutation's UNAUTHENTICATED (a
 * wrong password, an unknown refresh token) is a failed sign-in, not a denial.
 */
export function isDenial(code: unknown, type: string, field: string): boolean {
  if (code === ErrorCode.FORBIDDEN) return true;
  return (
    code === ErrorCode.UNAUTHENTICATED && !(type === "Mutation" && CREDENTIAL_FIELDS.has(field))
  );
}
