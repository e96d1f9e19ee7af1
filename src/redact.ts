/** A URL as it may be shown or logged: a password in it becomes `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    // Not a URL the parser takes: hide anything between "//user:" and "@" all the same.
    return url.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@');
  }
}
