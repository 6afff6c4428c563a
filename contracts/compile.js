#!/usr/bin/env node
// Compiles contracts/src/*.sol with the pinned npm solc (installed into .tools/ by scripts/setup-tools.sh;
// runs offline) and writes one artifact per contract to contracts/out/<Name>.json: { contractName, abi,
// bytecode }. The artifacts are committed so tests never need solc.
//
//   node contracts/compile.js            write contracts/out/
//   node contracts/compile.js --check    compile and fail if contracts/out/ differs from the result
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const srcDir = path.join(__dirname, "src");
const outDir = path.join(__dirname, "out");
const check = process.argv.includes("--check");

let solc;
try {
  solc = require(path.join(root, ".tools", "node_modules", "solc"));
} catch (e) {
  console.error("compile.js: solc is not installed in .tools/; run: bash scripts/setup-tools.sh");
  process.exit(1);
}

const sources = {};
for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(srcDir, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    // No metadata hash: the bytecode depends only on the sources and the compiler.
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) {
  console.error(e.formattedMessage);
}
if (errors.length > 0) {
  process.exit(1);
}

const artifacts = {};
for (const file of Object.keys(output.contracts).sort()) {
  for (const name of Object.keys(output.contracts[file]).sort()) {
    const c = output.contracts[file][name];
    const artifact = {
      contractName: name,
      sourceFile: file,
      compiler: "solc " + solc.version(),
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
    };
    artifacts[name + ".json"] = JSON.stringify(artifact, null, 2) + "\n";
  }
}

if (check) {
  let stale = [];
  const present = fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => f.endsWith(".json")) : [];
  for (const [file, text] of Object.entries(artifacts)) {
    const p = path.join(outDir, file);
    if (!fs.existsSync(p) || fs.readFileSync(p, "utf8") !== text) stale.push(file);
  }
  for (const file of present) {
    if (!(file in artifacts)) stale.push(file + " (no longer produced)");
  }
  if (stale.length > 0) {
    console.error("contracts/out is stale: " + stale.join(", ") + "; run: node contracts/compile.js");
    process.exit(1);
  }
  console.log("contracts/out matches contracts/src (" + Object.keys(artifacts).length + " artifacts)");
} else {
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of fs.readdirSync(outDir).filter((f) => f.endsWith(".json"))) {
    if (!(file in artifacts)) fs.unlinkSync(path.join(outDir, file));
  }
  for (const [file, text] of Object.entries(artifacts)) {
    fs.writeFileSync(path.join(outDir, file), text);
  }
  console.log("wrote " + Object.keys(artifacts).length + " artifacts to contracts/out/");
}

// Replay world contracts (added by the replay engineer): contracts/src/replay/*.sol compile together, as
// source units "replay/<File>.sol" so their relative imports resolve, into contracts/out/replay/<Name>.json
// with the same settings, artifact layout and --check behaviour as above.
{
  const replaySrc = path.join(srcDir, "replay");
  const replayOut = path.join(outDir, "replay");
  if (fs.existsSync(replaySrc)) {
    const replaySources = {};
    for (const file of fs.readdirSync(replaySrc).filter((f) => f.endsWith(".sol")).sort()) {
      replaySources["replay/" + file] = { content: fs.readFileSync(path.join(replaySrc, file), "utf8") };
    }
    const replayOutput = JSON.parse(solc.compile(JSON.stringify({ ...input, sources: replaySources })));
    for (const e of replayOutput.errors || []) {
      console.error(e.formattedMessage);
    }
    if ((replayOutput.errors || []).some((e) => e.severity === "error")) {
      process.exit(1);
    }
    const replayArtifacts = {};
    for (const file of Object.keys(replayOutput.contracts).sort()) {
      for (const name of Object.keys(replayOutput.contracts[file]).sort()) {
        const c = replayOutput.contracts[file][name];
        // Interfaces declared next to the contracts have no bytecode: not artifacts.
        if (c.evm.bytecode.object === "") continue;
        replayArtifacts[name + ".json"] =
          JSON.stringify(
            { contractName: name, sourceFile: file, compiler: "solc " + solc.version(), abi: c.abi, bytecode: "0x" + c.evm.bytecode.object },
            null,
            2,
          ) + "\n";
      }
    }
    const present = fs.existsSync(replayOut) ? fs.readdirSync(replayOut).filter((f) => f.endsWith(".json")) : [];
    if (check) {
      const stale = Object.entries(replayArtifacts)
        .filter(([file, text]) => !fs.existsSync(path.join(replayOut, file)) || fs.readFileSync(path.join(replayOut, file), "utf8") !== text)
        .map(([file]) => "replay/" + file)
        .concat(present.filter((f) => !(f in replayArtifacts)).map((f) => "replay/" + f + " (no longer produced)"));
      if (stale.length > 0) {
        console.error("contracts/out/replay is stale: " + stale.join(", ") + "; run: node contracts/compile.js");
        process.exit(1);
      }
      console.log("contracts/out/replay matches contracts/src/replay (" + Object.keys(replayArtifacts).length + " artifacts)");
    } else {
      fs.mkdirSync(replayOut, { recursive: true });
      for (const file of present) {
        if (!(file in replayArtifacts)) fs.unlinkSync(path.join(replayOut, file));
      }
      for (const [file, text] of Object.entries(replayArtifacts)) {
        fs.writeFileSync(path.join(replayOut, file), text);
      }
      console.log("wrote " + Object.keys(replayArtifacts).length + " artifacts to contracts/out/replay/");
    }
  }
}
