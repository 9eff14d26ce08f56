#!/usr/bin/env node
/** The `tsmesh` command: see ./program.ts for how its subcommands are found and loaded. */
import { buildProgram } from './program.js';

const program = await buildProgram(process.argv);
await program.parseAsync(process.argv);
