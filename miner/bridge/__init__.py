"""``xenblocks-miner bridge``: existing XenblocksMiner rigs (plain MQTT on the farm's LAN)
brought onto this platform, each with its own enrolled identity and mutual-TLS connection.

``translate`` turns their messages into this platform's and back; ``lan`` is the embedded
broker they connect to; ``service`` keeps one platform link and outbox per rig;
``command`` is the subcommand.
"""
