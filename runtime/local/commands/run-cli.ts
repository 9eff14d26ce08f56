/** Runs a command's implementation and turns its result or error into the process exit code. */
import { CliError, EXIT } from '../mesh-ref.js';

export async function runCli(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exitCode = EXIT.failed;
    }
  }
}
