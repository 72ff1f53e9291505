/** The copy-paste commands that enrol and run a rig (see miner/cli.py, miner/enrolment/command.py). */
export function minerCommands(opts: { apiUrl: string; token: string; name: string; stage: string }): string {
  const name = opts.name.trim() ? ` --name ${JSON.stringify(opts.name.trim())}` : "";
  const local = opts.stage === "local" ? " --no-submit --block-pattern XEN" : "";
  return [
    "pip install 'xenblocks-platform[miner]'   # add [gpu] on NVIDIA rigs",
    `export XENBLOCKS_TOKEN=${opts.token}`,
    `xenblocks-miner enroll --api ${opts.apiUrl}${name}`,
    `xenblocks-miner run${local}`,
  ].join("\n");
}
