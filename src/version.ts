/** The daemon's version (package.json), as published in `info`. */
export const VERSION = '0.1.0';
