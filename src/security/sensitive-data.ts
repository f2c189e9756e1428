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

/** What the audit log keeps of input nested deeper than any of the schema's. */
export const TOO_DEEP = "[too deep]";
