#!/usr/bin/env node
// Entry point of the `ttun` command: everything lives in the compiled CLI module.
import { main } from '../dist/ts/cli.js';

main(process.argv.slice(2));
