export * from './authorization-policy.js';
export * from './destination-rule.js';
export * from './gateway.js';
export * from './istio-object.js';
export * from './peer-authentication.js';
export * from './service-entry.js';
export * from './sidecar.js';
export * from './virtual-service.js';
