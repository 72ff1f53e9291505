"""The contract between a rig and the cloud.

MQTT topics, message models and their JSON codec, Ethereum addresses, and the XenBlocks
rules (Argon2id reference hash, block classification, keys and proof-of-work shares).
Import what you need from its module, e.g. ``from protocol.messages import Heartbeat``.
"""

PROTOCOL_VERSION = "2.0.0"
