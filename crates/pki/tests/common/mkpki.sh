#!/usr/bin/env bash
# Generates a throw-away test PKI with openssl in the current directory.
set -euo pipefail
DN="/C=CA/ST=Ontario/O=Libreswan"
cat > ca.cnf <<CNF
[ ca ]
default_ca = testca
[ testca ]
dir = .
database = \$dir/index-\$ENV::CANAME.txt
serial = \$dir/serial-\$ENV::CANAME
new_certs_dir = \$dir/newcerts
certificate = \$dir/\$ENV::CANAME.crt
private_key = \$dir/\$ENV::CANAME.key
default_md = sha256
default_days = 365
default_crl_days = 30
policy = any
unique_subject = no
copy_extensions = copy
[ any ]
countryName = optional
stateOrProvinceName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
emailAddress = optional
[ ee ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
crlDistributionPoints = URI:http://192.0.2.254/revoked.crl
authorityInfoAccess = OCSP;URI:http://192.0.2.254:2560
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ee_nosig ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
[ ocsp ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
[ ee_policy ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
certificatePolicies = critical,1.3.6.1.4.1.99999.1
[ subca_nc ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;DNS:.example.org
[ subca0 ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ subca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF
mkdir -p newcerts

newca() { # name subject keyalg
    : > "index-$1.txt"; echo 01 > "serial-$1"
    openssl req -x509 -newkey "$3" -nodes -keyout "$1.key" -out "$1.crt" -days 3650 \
        -subj "$2" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -addext "subjectKeyIdentifier=hash" 2>/dev/null
}
# sign CA name subj ext [keyalg] [extra openssl-ca args...]
sign() {
    local ca=$1 name=$2 subj=$3 ext=$4 alg=${5:-rsa:2048}; shift 5 || shift $#
    openssl req -new -newkey "$alg" -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" \
        ${SAN:+-addext "subjectAltName=$SAN"} 2>/dev/null
    CANAME=$ca openssl ca -batch -config ca.cnf -extensions "$ext" -in "$name.csr" -out "$name.crt" \
        -notext "$@" 2>/dev/null
}

newca ca "$DN/CN=Libreswan test CA" rsa:2048
newca otherca "$DN/CN=Other test CA" ec:<(openssl ecparam -name prime256v1)
# The impostor has the same name as "ca" but another key.
mkdir -p impostor && (cd impostor && cp ../ca.cnf . && mkdir -p newcerts && \
    : > index-ca.txt && echo 50 > serial-ca && \
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "$DN/CN=Libreswan test CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null)

SAN="DNS:east.testing.libreswan.org,email:east@testing.libreswan.org,IP:192.0.2.23,IP:2001:db8::23" \
    sign ca east "$DN/CN=east.testing.libreswan.org/emailAddress=user-east@testing.libreswan.org" ee
SAN="DNS:west.testing.libreswan.org,IP:192.0.2.45" sign ca west "$DN/CN=west.testing.libreswan.org" ee
SAN="DNS:revoked.testing.libreswan.org" sign ca revoked "$DN/CN=revoked.testing.libreswan.org" ee
SAN="DNS:expired.testing.libreswan.org" sign ca expired "$DN/CN=expired.testing.libreswan.org" ee rsa:2048 \
    -startdate 20200101000000Z -enddate 20210101000000Z
SAN="DNS:future.testing.libreswan.org" sign ca future "$DN/CN=future.testing.libreswan.org" ee rsa:2048 \
    -startdate 20990101000000Z -enddate 20991231000000Z
SAN="DNS:wrongca.testing.libreswan.org" sign otherca wrongca "$DN/CN=wrongca.testing.libreswan.org" ee
SAN="DNS:nosig.testing.libreswan.org" sign ca nosig "$DN/CN=nosig.testing.libreswan.org" ee_nosig
SAN="DNS:ec256.testing.libreswan.org" sign ca ec256 "$DN/CN=ec256.testing.libreswan.org" ee \
    ec:<(openssl ecparam -name prime256v1)
SAN="DNS:ec384.testing.libreswan.org" sign ca ec384 "$DN/CN=ec384.testing.libreswan.org" ee \
    ec:<(openssl ecparam -name secp384r1)
SAN="DNS:ec521.testing.libreswan.org" sign ca ec521 "$DN/CN=ec521.testing.libreswan.org" ee \
    ec:<(openssl ecparam -name secp521r1)
SAN="DNS:ed.testing.libreswan.org" sign ca ed "$DN/CN=ed.testing.libreswan.org" ee ed25519
SAN="DNS:pss.testing.libreswan.org" sign ca pss "$DN/CN=pss.testing.libreswan.org" ee rsa:2048 \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -sigopt rsa_mgf1_md:sha256
# OCSP responders: one delegated by the CA, one by the other CA.
sign ca ocsp "$DN/CN=OCSP responder" ocsp
sign otherca rogueocsp "$DN/CN=Rogue OCSP responder" ocsp
# A certificate "issued" by east, which is not a CA.
openssl req -new -newkey rsa:2048 -nodes -keyout notca.key -out notca.csr -subj "$DN/CN=notca" 2>/dev/null
openssl x509 -req -in notca.csr -CA east.crt -CAkey east.key -set_serial 77 -days 30 -out notca.crt 2>/dev/null
# Intermediate CAs: sub0 (pathlen:0) -> sub1 -> deep; sub0 -> leaf.
sign ca sub0 "$DN/CN=Sub CA zero" subca0
: > index-sub0.txt; echo 10 > serial-sub0
SAN="DNS:leaf.testing.libreswan.org" sign sub0 leaf "$DN/CN=leaf.testing.libreswan.org" ee
sign sub0 sub1 "$DN/CN=Sub CA one" subca
: > index-sub1.txt; echo 20 > serial-sub1
SAN="DNS:deep.testing.libreswan.org" sign sub1 deep "$DN/CN=deep.testing.libreswan.org" ee
# Critical extensions ferroswan does not enforce.
SAN="DNS:policy.testing.libreswan.org" sign ca policy "$DN/CN=policy.testing.libreswan.org" ee_policy
sign ca subnc "$DN/CN=Sub CA with name constraints" subca_nc
: > index-subnc.txt; echo 30 > serial-subnc
SAN="DNS:nc.testing.libreswan.org" sign subnc nc "$DN/CN=nc.testing.libreswan.org" ee
# Revoke one and publish the CRL (PEM and DER).
CANAME=ca openssl ca -batch -config ca.cnf -revoke revoked.crt -crl_reason keyCompromise 2>/dev/null
CANAME=ca openssl ca -batch -config ca.cnf -gencrl -out ca.crl.pem 2>/dev/null
openssl crl -in ca.crl.pem -outform DER -out ca.crl.der
# A CRL of the impostor (same issuer name, wrong key).
(cd impostor && CANAME=ca openssl ca -batch -config ca.cnf -gencrl -out ../impostor.crl.pem 2>/dev/null)
# PKCS#8 forms of the keys, and a PKCS#1 RSA and a SEC1 EC key.
for k in east ec256 ed; do openssl pkcs8 -topk8 -nocrypt -in $k.key -out $k.p8.pem; done
openssl rsa -in east.key -traditional -out east.rsa.pem 2>/dev/null
openssl ec -in ec256.key -out ec256.sec1.pem 2>/dev/null
echo done > DONE
