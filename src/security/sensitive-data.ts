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

/**
 * A copy of an input object with every sensitive field replaced, at any depth. Input-object keys
 * are field names; a top-level variable is named by the client, so callers redact a variable
 * by the argument or input field it is used for.
 */
export function redactInputObject(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactInputObject);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      SENSITIVE_NAMES.has(key) && inner !== null ? REDACTED : redactInputObject(inner),
    ]),
  );
}
