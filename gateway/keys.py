"""The gateway's SM2 key pair on disk: PEM files, the private one readable by its owner only."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from uplink.sm2 import Signer, generate_private_key, private_key_from_pem, private_key_pem, \
    public_key_pem


class KeyFileError(RuntimeError):
    pass


def generate(key_file: Path, overwrite: bool = False) -> Signer:
    """Make a key pair; writes KEY (0600) and KEY.pub (public PEM). Refuses to overwrite."""
    if key_file.exists() and not overwrite:
        raise KeyFileError(f"{key_file} exists; refusing to replace a gateway key "
                        "(central would reject everything signed with a new one)")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    private = generate_private_key()
    signer = Signer(private)
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(private_key_pem(private))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, key_file)
    public_file(key_file).write_text(public_key_pem(signer.public_hex))
    return signer


def public_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".pub")


def load(key_file: Path) -> Signer:
    try:
        pem = key_file.read_text()
    except FileNotFoundError as exc:
        raise KeyFileError(f"no gateway key at {key_file}: run `sitegate keygen` first") from exc
    return Signer(private_key_from_pem(pem))


def loose_permissions(key_file: Path) -> bool:
    """True when group or others may read the private key."""
    return bool(key_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
