#!/usr/bin/env python3
# Regenerates ../rsa2192_pkcs1_sha1.txt (needs Python 3 with the cryptography package for
# the cross-checks). The RSA-PSS, ECDSA and Ed25519 signatures and the
# signer keys in the signature cross-check differ on each run; any run gives
# valid vectors. The SK and RSA-2192 generators are deterministic.
import os
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
import random, hashlib, base64
rnd = random.Random(20261130)
def is_prime(n):
    if n < 2: return False
    for p in (2,3,5,7,11,13,17,19,23,29,31,37):
        if n % p == 0: return n == p
    d, s = n-1, 0
    while d % 2 == 0: d//=2; s+=1
    for _ in range(40):
        a = rnd.randrange(2, n-2); x = pow(a, d, n)
        if x in (1, n-1): continue
        for _ in range(s-1):
            x = x*x % n
            if x == n-1: break
        else: return False
    return True
def prime(bits):
    while True:
        c = rnd.getrandbits(bits) | (3 << (bits-2)) | 1
        if is_prime(c) and (c-1) % 65537 != 0: return c
e = 65537
while True:
    p, q = prime(1096), prime(1096)
    n = p*q
    if n.bit_length() == 2192 and p != q: break
if p < q: p, q = q, p
phi = (p-1)*(q-1)
d = pow(e, -1, phi)
def der_len(l):
    if l < 128: return bytes([l])
    b = l.to_bytes((l.bit_length()+7)//8, 'big'); return bytes([0x80|len(b)]) + b
def der_int(v):
    b = v.to_bytes((v.bit_length()+8)//8 or 1, 'big')
    return b'\x02' + der_len(len(b)) + b
body = b''.join(der_int(x) for x in (0, n, e, d, p, q, d % (p-1), d % (q-1), pow(q, -1, p)))
der = b'\x30' + der_len(len(body)) + body
pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(base64.b64encode(der).decode()[i:i+64] for i in range(0, len(base64.b64encode(der)), 64)) + "\n-----END RSA PRIVATE KEY-----\n"
msg = b"ferroswan legacy RSA auth method 1"
k = (n.bit_length()+7)//8
h = hashlib.sha1(msg).digest()
t = bytes.fromhex("3021300906052b0e03021a05000414") + h
em = b'\x00\x01' + b'\xff'*(k-len(t)-3) + b'\x00' + t
sig = pow(int.from_bytes(em,'big'), d, n).to_bytes(k, 'big')
assert pow(int.from_bytes(sig,'big'), e, n) == int.from_bytes(em,'big')
out = "# A 2192-bit RSA key (the size of Libreswan's test-suite host keys, not\n# a multiple of ferroswan's arithmetic widths) and its RSASSA-PKCS1-v1_5\n# SHA-1 signature of `message`, as used by IKEv2 auth method 1. Generated\n# for ferroswan's tests with Python's integers (Miller-Rabin primes from a\n# seeded generator; s = EM^d mod n per RFC 8017 8.2.1), checked with\n# s^e mod n = EM. Test data only: the private key is public.\n\n"
out += "message = " + msg.hex() + "\n"
out += "signature = " + sig.hex() + "\n"
out += "key =\n" + pem
open(os.path.join(HERE, "rsa2192_pkcs1_sha1.txt"), "w").write(out)
print(len(der), k)
