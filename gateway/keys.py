"""The gateway's SM2 key pair on disk: PEM files, the private one readable by its owner only."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from uplink.sm2 import Signer, generate_private_key, private_key_from_pem, private_key_pem, \
    public_key_pem


class KeyFileError(RuntimeError):
    pass


ENC_LABEL = "SITEGATE ENCRYPTED PRIVATE KEY"


def _kdf(passphrase: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    return Scrypt(salt=salt, length=32, n=2 ** 15, r=8, p=1).derive(passphrase.encode("utf-8"))


def encrypt_pem(pem: str, passphrase: str) -> str:
    """The SEC1 PEM sealed with AES-256-GCM under a scrypt key (N=2^15, r=8, p=1)."""
    import base64
    import secrets as _secrets
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    salt, nonce = _secrets.token_bytes(16), _secrets.token_bytes(12)
    blob = salt + nonce + AESGCM(_kdf(passphrase, salt)).encrypt(nonce, pem.encode(), ENC_LABEL.encode())
    b64 = base64.encodebytes(blob).decode().replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {ENC_LABEL}-----\n" + "\n".join(lines) + f"\n-----END {ENC_LABEL}-----\n"


def decrypt_pem(text: str, passphrase: str) -> str:
    import base64
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    blob = base64.b64decode(body)
    try:
        return AESGCM(_kdf(passphrase, blob[:16])).decrypt(blob[16:28], blob[28:], ENC_LABEL.encode()).decode()
    except InvalidTag as exc:
        raise KeyFileError("wrong passphrase for the gateway key (or the key file is damaged)") from exc


def is_encrypted(key_file: Path) -> bool:
    try:
        return ENC_LABEL in key_file.read_text()
    except FileNotFoundError:
        return False


def passphrase_from_env() -> str | None:
    """SITEGATE_KEY_PASSPHRASE, or the systemd credential ``key-passphrase``."""
    if os.environ.get("SITEGATE_KEY_PASSPHRASE"):
        return os.environ["SITEGATE_KEY_PASSPHRASE"]
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / "key-passphrase").exists():
        return (Path(creds) / "key-passphrase").read_text().strip()
    return None


def generate(key_file: Path, overwrite: bool = False, passphrase: str | None = None) -> Signer:
    """Make a key pair; writes KEY (0600, sealed when a passphrase is given) and KEY.pub
    (public PEM). Refuses to overwrite."""
    if key_file.exists() and not overwrite:
        raise KeyFileError(f"{key_file} exists; refusing to replace a gateway key "
                        "(central would reject everything signed with a new one)")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    private = generate_private_key()
    signer = Signer(private)
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        pem = private_key_pem(private)
        fh.write(encrypt_pem(pem, passphrase) if passphrase else pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, key_file)
    public_file(key_file).write_text(public_key_pem(signer.public_hex))
    return signer


def public_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".pub")


def load(key_file: Path, passphrase: str | None = None) -> Signer:
    try:
        pem = key_file.read_text()
    except FileNotFoundError as exc:
        raise KeyFileError(f"no gateway key at {key_file}: run `sitegate provision` "
                           "(or `sitegate keygen`) first") from exc
    if ENC_LABEL in pem:
        passphrase = passphrase or passphrase_from_env()
        if not passphrase:
            raise KeyFileError(f"{key_file} is passphrase-protected: set SITEGATE_KEY_PASSPHRASE "
                               "or the systemd credential key-passphrase")
        pem = decrypt_pem(pem, passphrase)
    return Signer(private_key_from_pem(pem))


def loose_permissions(key_file: Path) -> bool:
    """True when group or others may read the private key."""
    return bool(key_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
