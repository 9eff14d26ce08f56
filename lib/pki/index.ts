export * from './certificates.js';
export * from './keys.js';
