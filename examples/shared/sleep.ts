/**
 * The `sleep` workload: a client pod that does nothing until SIGTERM. Commands run inside it with
 * `tsmesh exec sleep -- curl ...`.
 */
console.log('sleep: idle until SIGTERM');
const timer = setInterval(() => {}, 1 << 30);
const stop = () => {
  clearInterval(timer);
  console.log('sleep: stopping');
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
