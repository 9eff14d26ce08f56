/** The configuration language: shapes, parsing, validation, diagnostics, durations and regexes. */
export * from './diagnostics.js';
export * from './duration.js';
export * from './names.js';
export * from './parse.js';
export * from './path.js';
export * from './regex.js';
export * from './types.js';
export * from './validate.js';
