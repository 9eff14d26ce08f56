/**
 * The `sleep` workload: a client pod that does nothing until SIGTERM. Commands run inside it with
 * `tsmesh exec sleep -- curl ...`.
 */
const timer = setInterval(() => {}, 1 << 30);
const stop = () => {
  clearInterval(timer);
  console.log('sleep: stopping');
  process.exit(0);
};
// Handlers first: the line below tells a supervisor the process is up.
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
console.log('sleep: idle until SIGTERM');
