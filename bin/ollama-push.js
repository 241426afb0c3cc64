#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// Every SSH packet and file read is a new buffer, and V8 answers that memory with incremental major GCs
// whose concurrent marking cost about 0.5 s of CPU per 512 MiB pushed; a CLI has no pauses to hide, and
// marking its small heap at once is cheaper. Set before anything else is loaded.
setFlagsFromString('--no-incremental-marking');
const { main } = await import('../dist/src/cli/main.js');

main(process.argv.slice(2));
