#!/usr/bin/env python3
# Regenerates ../sk_payload_cross_check.txt (needs Python 3 with the cryptography package for
# the cross-checks). The RSA-PSS, ECDSA and Ed25519 signatures and the
# signer keys in the signature cross-check differ on each run; any run gives
# valid vectors. The SK and RSA-2192 generators are deterministic.
import os
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hmac, hashes
import struct
plain = bytes(range(0x20, 0x20+30))  # stands in for the inner payloads
def header(body_len, np=0x29):
    total = 28 + 4 + body_len
    hdr = bytes.fromhex("0123456789abcdef" "fedcba9876543210") + bytes([0x2e, 0x20, 0x25, 0x08]) + struct.pack(">II", 7, total)
    return hdr + bytes([np, 0]) + struct.pack(">H", 4 + body_len)
out = []
# AES-CBC-256 + HMAC-SHA2-256-128
ke = bytes(range(0x40, 0x60)); ka = bytes(range(0x60, 0x80)); iv = bytes(range(0xa0, 0xb0))
padlen = (16 - (len(plain)+1) % 16) % 16
pt = plain + b"\x00"*padlen + bytes([padlen])
body_len = 16 + len(pt) + 16
aad = header(body_len)
enc = Cipher(algorithms.AES(ke), modes.CBC(iv)).encryptor()
ct = enc.update(pt) + enc.finalize()
h = hmac.HMAC(ka, hashes.SHA256()); h.update(aad + iv + ct); icv = h.finalize()[:16]
out.append(("AES_CBC_256 HMAC_SHA2_256_128", ke, ka, iv, aad, iv+ct+icv))
# AES-CBC-128 + HMAC-SHA1-96
ke2 = bytes(range(0x40, 0x50)); ka2 = bytes(range(0x60, 0x74))
body_len = 16 + len(pt) + 12
aad2 = header(body_len)
enc = Cipher(algorithms.AES(ke2), modes.CBC(iv)).encryptor()
ct = enc.update(pt) + enc.finalize()
h = hmac.HMAC(ka2, hashes.SHA1()); h.update(aad2 + iv + ct); icv = h.finalize()[:12]
out.append(("AES_CBC_128 HMAC_SHA1_96", ke2, ka2, iv, aad2, iv+ct+icv))
# AES-GCM-16-256: SK_e = key || salt, no padding, Pad Length 0
for klen, name in ((32, "AES_GCM_16_256"), (16, "AES_GCM_16_128")):
    key = bytes(range(0x40, 0x40+klen)); salt = bytes.fromhex("c0c1c2c3"); iv8 = bytes(range(0xa0, 0xa8))
    pt = plain + b"\x00"
    body_len = 8 + len(pt) + 16
    aad3 = header(body_len)
    ctag = AESGCM(key).encrypt(salt + iv8, pt, aad3)
    out.append((name, key + salt, b"", iv8, aad3, iv8 + ctag))
s = """# SK payload protection cross-checks (RFC 7296 3.14, RFC 5282), computed
# independently of ferroswan and AWS-LC with Python cryptography 48.0.0
# (OpenSSL 3.0 backend): AES-CBC with explicit IV, HMAC over the message
# from the IKE header through the ciphertext, truncated; AES-GCM with nonce
# salt || IV and the message up to the IV as AAD. The sender's padding is
# zeros (CBC: to the 16-octet block; GCM: none, Pad Length 0).
# plaintext is the same 30 octets in every case.

"""
for name, e, a, iv, aad, body in out:
    s += "suite = %s\nSK_e = %s\nSK_a = %s\nIV = %s\nplaintext = %s\naad = %s\nbody = %s\n\n" % (name, e.hex(), a.hex() if a else "", iv.hex(), plain.hex(), aad.hex(), body.hex())
open(os.path.join(HERE, "sk_payload_cross_check.txt"), "w").write(s)
print(s[:1500])
