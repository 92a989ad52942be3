"""Password protection: AES-256-GCM envelopes that the browser opens with WebCrypto.

Key structure (version 1):
- master = PBKDF2-HMAC-SHA256(password, client salt, 600,000 iterations), once per client
  and build here, once per visit in the browser;
- file key = HKDF-SHA256(master, info = "coachgen/v1|<client>|<path>"): one key per file;
- nonce = the first 12 bytes of HMAC-SHA256(file key, "nonce" + plaintext): an unchanged
  file encrypts to the same bytes, and different plaintexts never share a nonce;
- associated data = the envelope's header, which names the version, the KDF and its
  parameters, the salt, the client and the path. A blob moved to another page or client
  fails to open.

An envelope is text: base64url(header JSON) "." base64url(ciphertext and tag).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

VERSION = 1
KDF = "pbkdf2-sha256"
ITERATIONS = 600_000
SALT_BYTES = 16


class DecryptError(ValueError):
    """Wrong password, or a file that was changed, truncated or moved."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def master_key(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, dklen=32)


def file_key(master: bytes, client: str, path: str) -> bytes:
    from cryptography.hazmat.primitives import hashes  # imported on first use: most builds seal nothing
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = f"coachgen/v{VERSION}|{client}|{path}".encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@dataclass(frozen=True)
class Lock:
    """What a client's files are encrypted with: the master key, never the password."""

    client: str
    salt: bytes
    master: bytes
    iterations: int = ITERATIONS

    @classmethod
    def derive(cls, client: str, password: str, salt: bytes, iterations: int = ITERATIONS) -> "Lock":
        return cls(client, salt, master_key(password, salt, iterations), iterations)

    def header(self, path: str) -> bytes:
        fields = {"v": VERSION, "kdf": KDF, "iter": self.iterations, "salt": b64(self.salt),
                  "client": self.client, "path": path}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def seal(self, path: str, plaintext: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = file_key(self.master, self.client, path)
        nonce = hmac.new(key, b"nonce" + plaintext, hashlib.sha256).digest()[:12]
        header = self.header(path)
        sealed = AESGCM(key).encrypt(nonce, plaintext, header)
        return f"{b64(header)}.{b64(nonce + sealed)}".encode("ascii")

    def open(self, path: str, envelope: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            head, body = envelope.decode("ascii").strip().split(".")
            header, blob = unb64(head), unb64(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecryptError("not an envelope") from exc
        if header != self.header(path):
            raise DecryptError("the envelope belongs to another file, client or key")
        try:
            return AESGCM(file_key(self.master, self.client, path)).decrypt(blob[:12], blob[12:], header)
        except Exception as exc:  # cryptography raises InvalidTag
            raise DecryptError("wrong password, or the file was changed") from exc


# ---------------------------------------------------------------- passwords

WORDS = (
    "acorn amber anchor apple arrow aspen autumn badge bamboo basil beacon birch bison bloom "
    "bonfire breeze brook cactus candle canyon cedar cello chalk cherry cinder clover cobalt "
    "comet copper coral cosmos cotton crane crystal dahlia delta desert dune eagle ember fable "
    "falcon fern fjord flint forest fossil garnet geyser ginger glacier granite harbor hazel "
    "heron hollow honey horizon iris island ivory jasmine juniper kelp kettle lagoon lantern "
    "laurel lemon lilac linen lotus magnet maple marble meadow mesa mint moss nectar nimbus "
    "nutmeg oasis ocean olive onyx orchid otter paddle pebble pepper pine plum prairie quartz "
    "quill raven reef ridge river saffron sage sequoia shore sierra silver slate sparrow spruce "
    "summit swan tango thistle thunder tide timber topaz tulip tundra valley velvet violet "
    "walnut willow winter yarrow zephyr"
).split()


def generate_password(words: int = 7) -> str:
    """A passphrase of common words: easy to type on a phone, about 50 bits of entropy."""
    return "-".join(secrets.choice(WORDS) for _ in range(words))


def weakness(password: str) -> str | None:
    """Why a password is too weak to protect notes against offline guessing, or None."""
    if len(password) < 12:
        return "shorter than 12 characters"
    if len(set(password)) < 6:
        return "too few different characters"
    if password.lower() in {"password1234", "123456789012", "qwertyuiopas", "coachingrocks"}:
        return "a well-known password"
    return None
