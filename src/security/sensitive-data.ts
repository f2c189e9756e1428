/*
 * Which data is personal or secret, in one place: the audit log, the logs and error handling
 * redact by these lists. Personal-data fields are those of ACCESS.md ("Personal data").
 */

/** Output fields holding personal data, as Type.field. */
export const PII_FIELDS: ReadonlySet<string> = new Set([
  "User.email",
  "User.phone",
  "Customer.email",
  "Customer.phone",
  "Customer.dateOfBirth",
  "Customer.taxId",
  // Derived from the tax id, stored encrypted and readable only where email is: treated alike.
  "Customer.taxIdLast4",
]);

/** Argument and input-field names whose values are secrets or personal data. */
export const SENSITIVE_NAMES: ReadonlySet<string> = new Set([
  "password",
  "currentPassword",
  "newPassword",
  "clientSecret",
  "refreshToken",
  "accessToken",
  "email",
  "phone",
  "dateOfBirth",
  "taxId",
]);

export const REDACTED = "[redacted]";

/** Deeper input than any of the schema's (a few levels) is not kept, only marked. */
const MAX_KEPT_DEPTH = 16;
export const TOO_DEEP = "[too deep]";

/**
 * A copy of an input object with every sensitive field replaced, at any depth. Input-object keys
 * are field names; a top-level variable is named by the client, so callers redact a variable
 * by the argument or input field it is used for. Nesting past MAX_KEPT_DEPTH is replaced by a
 * marker: a client's 5,000-deep array must not exhaust the stack of whoever records it.
 */
export function redactInputObject(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_KEPT_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) return value.map((inner) => redactInputObject(inner, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      SENSITIVE_NAMES.has(key) && inner !== null ? REDACTED : redactInputObject(inner, depth + 1),
    ]),
  );
}
