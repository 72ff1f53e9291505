"""``xenblocks-miner enroll``: turn a rig into a platform worker with its own certificate.

One concern a module:

- ``errors``: what can go wrong, and the command's exit codes;
- ``keys``: the rig's P-256 key and CSR, its label, the provider's wallet key;
- ``platform``: the platform API client (sign-in with Ethereum, enrol, revoke);
- ``bundle``: the certificate bundle on disk that ``xenblocks-miner run`` reads;
- ``flow``: enrolment start to end (``enroll``);
- ``command``: the ``enroll`` subcommand's flags and output.
"""
