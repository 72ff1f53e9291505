// The local EVM node of `xenblocks local` (functions/local/evm_node.py runs `hardhat node`).
// Hardhat compiles nothing here: its compiler would be downloaded from
// binaries.soliditylang.org. The test token is compiled with solc-js instead
// (scripts/compile.js) and deployed from its committed artifact.
module.exports = {
  // An empty sources folder: `hardhat node` finds nothing to compile.
  paths: { sources: "./no-sources", cache: "./cache", artifacts: "./hardhat-artifacts" },
  networks: {
    hardhat: {
      chainId: 31337,
      // Blocks are mined per transaction; evm_node.py turns on interval mining when asked.
      mining: { auto: true },
    },
  },
};
