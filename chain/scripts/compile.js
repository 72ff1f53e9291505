// Compiles contracts/TestToken.sol with solc-js (the npm `solc` package, pinned in
// package.json), so nothing is downloaded from outside the registries.
//   node scripts/compile.js           write artifacts/TestToken.json
//   node scripts/compile.js --check   exit 1 when the committed artifact differs
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = path.resolve(__dirname, "..");
const SOURCE = "contracts/TestToken.sol";
const ARTIFACT = path.join(ROOT, "artifacts", "TestToken.json");

function compile() {
  const input = {
    language: "Solidity",
    sources: { [SOURCE]: { content: fs.readFileSync(path.join(ROOT, SOURCE), "utf8") } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "paris",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  if (errors.length) {
    throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  }
  const contract = output.contracts[SOURCE].TestToken;
  return {
    contractName: "TestToken",
    sourceName: SOURCE,
    compiler: solc.version(),
    settings: { optimizer: input.settings.optimizer, evmVersion: input.settings.evmVersion },
    abi: contract.abi,
    bytecode: "0x" + contract.evm.bytecode.object,
    deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
  };
}

const text = JSON.stringify(compile(), null, 2) + "\n";
if (process.argv.includes("--check")) {
  const committed = fs.existsSync(ARTIFACT) ? fs.readFileSync(ARTIFACT, "utf8") : "";
  if (committed !== text) {
    console.error(`${path.relative(ROOT, ARTIFACT)} is not what ${SOURCE} compiles to: run npm run compile`);
    process.exit(1);
  }
  console.log(`${path.relative(ROOT, ARTIFACT)} matches ${SOURCE}`);
} else {
  fs.writeFileSync(ARTIFACT, text);
  console.log(`wrote ${path.relative(ROOT, ARTIFACT)}`);
}
