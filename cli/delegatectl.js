#!/usr/bin/env node
// The `bin` entry: Node runs the TypeScript sources directly (type stripping), which it refuses
// to do under node_modules; this repository is run from its checkout, so a plain shim suffices.
import './main.ts'
