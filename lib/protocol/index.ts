export * from './admin.js';
export * from './canonical.js';
export * from './decode.js';
export * from './framing.js';
export * from './messages.js';
export * from './resources.js';
