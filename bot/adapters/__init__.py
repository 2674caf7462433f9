"""Platform adapters: one module per platform; only `wechaty.py` imports wechaty."""
