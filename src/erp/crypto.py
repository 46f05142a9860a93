"""Secrets the service must read back (a webhook's signing secret), kept encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) with one key per installation:
`ERP_SECRET_KEY` (what `Fernet.generate_key()` prints), or else a key file made on first use in the data
folder (`.erp/secret.key`, readable by its owner only). Every process of an installation must share it:
set `ERP_SECRET_KEY` when they do not share the data folder.
"""

import os
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet

from erp.config import Settings


def _key_file(data_dir: Path) -> bytes:
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key())
    return path.read_bytes().strip()


@cache
def _box(key: bytes) -> Fernet:
    return Fernet(key)


def box(settings: Settings) -> Fernet:
    return _box(settings.secret_key.encode() if settings.secret_key else _key_file(settings.data_dir))


def seal(settings: Settings, secret: str) -> bytes:
    return box(settings).encrypt(secret.encode())


def unseal(settings: Settings, sealed: bytes) -> str:
    return box(settings).decrypt(sealed).decode()
