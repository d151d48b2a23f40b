"""The one way an API key is ever kept: its SHA-256 digest (hex)."""

import hashlib


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
