"""Provider secrets at rest: encrypted with a key file in the data dir that only the service
user may read (mode 0600, made on first use), so a copied database or backup alone gives
nobody the site's payment keys."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from appliance.errors import N_, ConfigError

KEY_FILE = "payments.key"


def key_path(data_path: Path) -> Path:
    return data_path / KEY_FILE


def _load_or_make(data_path: Path) -> bytes:
    path = key_path(data_path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} is readable by others: chmod 600 it (it encrypts the "
                              "payment providers' keys)") from None
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


class SecretBox:
    """Encrypts and decrypts provider secrets with the box's key file."""

    def __init__(self, data_path: Path) -> None:
        self._fernet = Fernet(_load_or_make(data_path))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode() if plain else ""

    def open(self, sealed: str) -> str:
        if not sealed:
            return ""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as err:
            raise ConfigError(N_("A payment secret cannot be read with this box's "
                                 "payments.key (restored from another box?): enter the keys "
                                 "again.")) from err
