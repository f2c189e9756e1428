/*
 * graphql-js and the scalars echo a rejected input value in their messages ("Variable "$input"
 * got invalid value { email: ... }", "Value is not a valid LocalDate: 1980-13-45"). An input
 * may be personal data, and error messages reach clients and logs, so those messages are
 * rewritten to name the variable, the path and the rule, never the value.
 */

/**
 * The value ends where graphql-js' reason begins: "; " and one of its reasons' openings, so a
 * value holding "; " (a string is printed as it is) is not taken for the end of the value.
 */
const VARIABLE =
  /^Variable "(\$\w+)" got invalid value [\s\S]*?(?: at "([\w.[\]]+)")?; ((?:Expected |Field "|Value |\w+ cannot represent |Exactly one )[\s\S]*)$/;
const LITERAL = /^Expected value of type "([^"]+)", found [\s\S]*?(?:; ([\s\S]*)|\.)$/;
/** Scalar coercion messages end with ": <the value>". */
const SCALAR_REASON = /^((?:\w+ cannot represent|Value is not a valid|Expected)[^:]*):[\s\S]*$/;

const withoutValue = (reason: string) => reason.replace(SCALAR_REASON, "$1.");

export function redactInputValues(message: string): string {
  const variable = VARIABLE.exec(message);
  if (variable) {
    const [, name, path, reason] = variable;
    const at = path ? ` at "${path}"` : "";
    return `Variable "${name}" got an invalid value${at}: ${withoutValue(reason!)}`;
  }
  const literal = LITERAL.exec(message);
  if (literal) {
    const [, type, reason] = literal;
    return `Expected a value of type "${type}"${reason ? `: ${withoutValue(reason)}` : "."}`;
  }
  return withoutValue(message);
}

/**
 * The input a graphql-js variable error is about, for extensions.field: the path inside the
 * variable ("input.email") or else the variable's name ("e" for $e).
 */
export function variableFieldOf(message: string): string | undefined {
  const variable = VARIABLE.exec(message);
  if (!variable) return undefined;
  const [, name, path] = variable;
  return path ?? name!.slice(1);
}

/** A syntax error names the token it stopped at; a literal's text may be a secret or PII. */
const LITERAL_TOKEN = /\b(found|Unexpected) (String|BlockString|Int|Float) "[\s\S]*"(\.?)$/;

export const redactSyntaxError = (message: string): string =>
  message.replace(LITERAL_TOKEN, "$1 $2$3");
