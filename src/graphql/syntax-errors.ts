/** A syntax error names the token it stopped at; a literal's text may be a secret or PII. */
const LITERAL_TOKEN = /\b(found|Unexpected) (String|BlockString|Int|Float) "[\s\S]*"(\.?)$/;

/** The syntax error without the text of the literal it stopped at (its kind stays). */
export const redactSyntaxError = (message: string): string =>
  message.replace(LITERAL_TOKEN, "$1 $2$3");
