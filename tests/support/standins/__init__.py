"""Protocol-faithful stand-ins for servers that cannot run on a test machine, driven by the real clients."""
