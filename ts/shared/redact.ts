/**
 * The one place that hides credentials in text ttun prints (errors, `ttun check`), so that they
 * are hidden the same way everywhere. Hiding too much of an odd value is the safe way to be wrong.
 */

/**
 * A value that is one URL (a proxy option or variable), with or without a scheme: everything
 * between the scheme and the last "@" becomes ***, whatever it holds (a password may contain
 * spaces, tabs or "@").
 */
export function redactUrl(text: string): string {
  const at = text.lastIndexOf('@');
  if (at === -1) return text;
  const schemeEnd = text.indexOf('://');
  const start = schemeEnd !== -1 && schemeEnd < at ? schemeEnd + 3 : 0;
  return `${text.slice(0, start)}***${text.slice(at)}`;
}

/**
 * Free text (a hook command, a list): each word that looks like scheme://…@host or
 * user:password@host loses what precedes its last "@".
 */
export function redactCredentials(text: string): string {
  return text
    .replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s]*@/g, '$1***@')
    .replace(/(^|\s)(?![A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s@/]*:[^\s]*@/g, '$1***@');
}
