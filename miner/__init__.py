"""The rig-side miner: hashing backends, mining loop, MQTT client, CLI (DESIGN.md, Miner)."""
