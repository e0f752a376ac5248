#!/usr/bin/env node
// The mk executable: one oclif CLI that is the server, the agent and the client.
const { execute } = require('@oclif/core');

execute({ dir: __dirname }).catch(require('@oclif/core/handle'));
