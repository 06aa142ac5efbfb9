#!/usr/bin/env node
// Runs the built daemon (dist/, made by `npm run build`, which `npm ci` runs through `prepare`).
await import('../dist/cli.js');
