#!/usr/bin/env node
// The mk executable: one oclif CLI that is the server, the agent and the client.
// First, before anything allocates: the heap settings of this kind of process.
require('../dist/agent/heap').configureHeap(process.argv.slice(2));
const { execute } = require('@oclif/core');

execute({ dir: __dirname }).catch(require('@oclif/core/handle'));
