import { z } from "zod";
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES } from "../security/passwords.js";
import { badUserInput } from "./errors.js";

/*
 * Input rules of BEHAVIOUR.md ("Input"). Text is stored exactly as sent (no trimming or
 * escaping); what is refused is refused with BAD_USER_INPUT naming the offending input field.
 */

// Control characters (C0, DEL, C1) and, separately, the two allowed in long text.
/* eslint-disable no-control-regex -- matching control characters is the point */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_EXCEPT_NEWLINE_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
/* eslint-enable no-control-regex */
/** Half a UTF-16 surrogate pair: not text, and PostgreSQL could only store it as U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);
const WELL_FORMED = "must be valid Unicode text";

const NO_CONTROL = "must not contain control characters";

/** One line of text (names, emails, searches): at most maxLength characters, no control ones. */
export const lineText = (maxLength: number) =>
  z
    .string()
    .max(maxLength, `must be at most ${maxLength} characters`)
    .refine((s) => !CONTROL.test(s), NO_CONTROL);

export const name = lineText(200).min(1, "must not be empty").refine(wellFormed, WELL_FORMED);

export const noteBody = z
  .string()
  .min(1, "must not be empty")
  .max(10_000, "must be at most 10000 characters")
  .refine((s) => !CONTROL_EXCEPT_NEWLINE_TAB.test(s), NO_CONTROL)
  .refine(wellFormed, WELL_FORMED);

export const email = lineText(254).pipe(z.email("must be a valid email address"));

export const phone = z
  .string()
  .regex(/^\+[1-9]\d{1,14}$/, "must be an E.164 number like +14155550123");

export const dateOfBirth = z.string().refine((s) => {
  const today = new Date().toISOString().slice(0, 10);
  return /^\d{4}-\d{2}-\d{2}$/.test(s) && s < today && s >= "1900-01-01";
}, "must be a date from 1900-01-01 up to yesterday");

export const taxId = z
  .string()
  .regex(/^[A-Za-z0-9-]{4,32}$/, "must be 4 to 32 letters, digits or dashes");

export const password = z.string().refine((s) => {
  const bytes = Buffer.byteLength(s, "utf8");
  return bytes >= PASSWORD_MIN_BYTES && bytes <= PASSWORD_MAX_BYTES;
}, `must be ${PASSWORD_MIN_BYTES} to ${PASSWORD_MAX_BYTES} bytes`);

/** Parses an argument; the first problem becomes BAD_USER_INPUT with extensions.field (e.g. input.email). */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  argName: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [argName, ...issue.path.map(String)].join(".");
  // The message names the field and the rule, never the value (which may be personal data).
  throw badUserInput(field, `${field} ${issue.message}`);
}
