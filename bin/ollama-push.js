#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { loadCli } from './load-cli.js';

const { cli } = loadCli();
// Every SSH packet and file read is a new buffer, and V8 answers that memory with incremental major GCs
// whose concurrent marking cost about 0.5 s of CPU per 512 MiB pushed; a CLI has no pauses to hide, and
// marking its small heap at once is cheaper. Set once the CLI is loaded: V8 checks its code cache against
// the flags, and its start-up is faster with incremental marking.
setFlagsFromString('--no-incremental-marking');
cli.main(process.argv.slice(2));
