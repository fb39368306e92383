#!/usr/bin/env node
// A stand-in for a native `solc` binary, backed by solc-js, so py-solc-x and ape-solidity compile offline.
//
// Supports `--version` and `--standard-json` (input on stdin). `--base-path`, `--include-path` and
// `--allow-paths` add import roots; every other flag is ignored.
// NOTE: solc-js's own CLI truncates piped output at 64 KiB and prints non-JSON lines (SMT notices), so the
// JSON is written here with one synchronous write and nothing else ever goes to stdout.
"use strict";

const fs = require("fs");
const path = require("path");

const REPO = path.resolve(__dirname, "..");
const NODE_MODULES = path.join(REPO, "node_modules");

// NOTE: emscripten may print to stdout; anything but the JSON would break the caller's parser.
console.log = (...args) => console.error(...args);
console.info = console.log;
console.warn = console.log;

const solc = require(path.join(NODE_MODULES, "solc"));

function nativeVersion() {
  // "0.8.28+commit.7893614a.Emscripten.clang" -> "0.8.28+commit.7893614a.Linux.g++"
  return solc.version().replace(/\.Emscripten\.clang$/, ".Linux.g++");
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, roots: [] };
  const withValue = new Set(["--base-path", "--include-path", "--allow-paths"]);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value = null;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === "--version") opts.version = true;
    else if (arg === "--standard-json") opts.standardJson = true;
    else if (withValue.has(arg)) {
      if (value === null) value = argv[++i];
      if (value) {
        for (const p of value.split(",")) if (p) opts.roots.push(path.resolve(p));
      }
    }
  }
  return opts;
}

function makeImportCallback(roots) {
  const searchRoots = [...roots, REPO, NODE_MODULES];
  return function findImports(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : searchRoots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, "utf8") };
      } catch (_err) {
        // try the next root
      }
    }
    return { error: `File not found: ${importPath} (searched ${searchRoots.join(", ")})` };
  };
}

function writeStdout(text) {
  const buf = Buffer.from(text, "utf8");
  let offset = 0;
  while (offset < buf.length) {
    try {
      offset += fs.writeSync(1, buf, offset, buf.length - offset);
    } catch (err) {
      if (err.code !== "EAGAIN") throw err;
    }
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    writeStdout(`solc, the solidity compiler commandline interface\nVersion: ${nativeVersion()}\n`);
    return 0;
  }
  if (!opts.standardJson) {
    process.stderr.write("solcjs_standard_json.js: only --version and --standard-json are supported\n");
    return 1;
  }
  const input = fs.readFileSync(0, "utf8");
  const output = solc.compile(input, { import: makeImportCallback(opts.roots) });
  writeStdout(output + "\n");
  return 0;
}

process.exitCode = main();
