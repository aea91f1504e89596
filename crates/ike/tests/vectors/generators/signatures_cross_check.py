#!/usr/bin/env python3
# Regenerates ../signatures_cross_check.txt (needs Python 3 with the cryptography package for
# the cross-checks). The RSA-PSS, ECDSA and Ed25519 signatures and the
# signer keys in the signature cross-check differ on each run; any run gives
# valid vectors. The SK and RSA-2192 generators are deterministic.
import os
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
from cryptography.hazmat.primitives.asymmetric import rsa, ec, padding, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives import hashes, serialization
msg = b"InitiatorSignedOctets: RealMessage1 | NonceRData | MACedIDForI"
spki = lambda k: k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex()
recs = []
rk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
recs.append(("RsaPssSha256", spki(rk), rk.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()).hex()))
recs.append(("RsaPssSha512", spki(rk), rk.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64), hashes.SHA512()).hex()))
recs.append(("RsaPkcs1Sha384", spki(rk), rk.sign(msg, padding.PKCS1v15(), hashes.SHA384()).hex()))
recs.append(("legacy 1", spki(rk), rk.sign(msg, padding.PKCS1v15(), hashes.SHA1()).hex()))
for curve, h, scheme, legacy, n in ((ec.SECP256R1(), hashes.SHA256(), "EcdsaSha256", "legacy 9", 32), (ec.SECP384R1(), hashes.SHA384(), "EcdsaSha384", "legacy 10", 48), (ec.SECP521R1(), hashes.SHA512(), "EcdsaSha512", "legacy 11", 66)):
    k = ec.generate_private_key(curve)
    der = k.sign(msg, ec.ECDSA(h))
    recs.append((scheme, spki(k), der.hex()))
    r, s = decode_dss_signature(k.sign(msg, ec.ECDSA(h)))
    recs.append((legacy, spki(k), (r.to_bytes(n, 'big') + s.to_bytes(n, 'big')).hex()))
ek = ed25519.Ed25519PrivateKey.generate()
recs.append(("Ed25519", spki(ek), ek.sign(msg).hex()))
s = """# Signatures made independently of ferroswan and AWS-LC, with Python
# cryptography 48.0.0 (OpenSSL 3.0 backend), over `message`, each with the
# signer's SubjectPublicKeyInfo. RFC 7427 schemes carry the scheme name;
# "legacy N" is IKEv2 auth method N (1: PKCS#1 v1.5 SHA-1; 9/10/11: ECDSA
# r || s, RFC 4754). RSASSA-PSS uses MGF1 with the same hash and a salt as
# long as the hash. Test data only.

message = %s

""" % msg.hex()
for scheme, key, sig in recs:
    s += "scheme = %s\nspki = %s\nsignature = %s\n\n" % (scheme, key, sig)
open(os.path.join(HERE, "signatures_cross_check.txt"), "w").write(s)
print(len(recs))
