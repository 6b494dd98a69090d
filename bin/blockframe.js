#!/usr/bin/env node
// Entry point for `npx blockframe`: runs the compiled CLI.
import { main } from '../dist/src/cli/main.js';
main(process.argv).then((code) => { process.exitCode = code; });
