export * from './authz.js';
export * from './cidr.js';
export * from './mtls.js';
