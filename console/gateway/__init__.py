"""The reference gateway: serves every catalogued operation with every promised behaviour."""
