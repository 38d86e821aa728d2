#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx, so there is no server build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../server/cli/main.ts');
const code = await main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
