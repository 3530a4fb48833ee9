#!/bin/sh
# tests/tls/make_certs.sh OUTDIR: a throw-away PKI for TLS tests, made with openssl.
#
#   ca.pem, ca.key             "lakewriter test CA" (RSA 2048)
#   ca-ec.pem, ca-ec.key       "lakewriter test EC CA" (P-256)
#   int.pem, int.key           "lakewriter test intermediate" (RSA, issued by ca)
#   other-ca.pem               "other test CA" (RSA), NOT in bundle.pem
#   ed25519-ca.pem             an Ed25519 CA (BearSSL cannot use it: skipped by loaders)
#   bundle.pem                 ca + ca-ec (what the tests trust)
#   odd-keys.pem               self-signed CAs: P-384, P-521, an X.509 v1 RSA root (no
#                              extensions), RSA-PSS, secp256k1, P-256 compressed point
#
#   leaf-rsa.{pem,key}         localhost, *.localhost.test, IP 127.0.0.1  <- ca
#   leaf-ec.{pem,key}          the same names, P-256 key                  <- ca-ec
#   leaf-int.{pem,key}         localhost                                  <- int
#   leaf-int-chain.pem         leaf-int + int (what the server sends)
#   leaf-wrong.{pem,key}       wrong.example only                         <- ca
#   leaf-expired.{pem,key}     localhost, valid 2020-01-01..2021-01-01    <- ca
#   leaf-other.{pem,key}       localhost                                  <- other-ca
#
# Writes into OUTDIR (created), then OUTDIR/done last. Needs only openssl and sh.
set -eu
out=$1
mkdir -p "$out"
cd "$out"
q() { "$@" >/dev/null 2>&1 || { echo "make_certs: failed: $*" >&2; "$@"; exit 1; }; }

cat >ext.cnf <<'EOF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:*.localhost.test, IP:127.0.0.1
[wrong]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[local]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
EOF

# ca NAME SUBJECT KEYALG: a self-signed CA.
ca() {
    q openssl req -x509 -new -newkey "$3" -nodes -keyout "$1.key" -out "$1.pem" -days 3650 \
        -subj "$2" -sha256 -extensions ca -config ext.cnf
}
# leaf NAME ISSUER KEYALG SUBJECT SECTION: a certificate issued by ISSUER.
leaf() {
    q openssl req -new -newkey "$3" -nodes -keyout "$1.key" -out "$1.csr" -subj "$4"
    q openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 3650 \
        -sha256 -extfile ext.cnf -extensions "$5" -out "$1.pem"
}

# openssl req needs a [req] section when -config is given.
printf '[req]\ndistinguished_name = dn\n[dn]\n' >>ext.cnf

ca ca "/O=lakewriter/CN=lakewriter test CA" rsa:2048
q openssl ecparam -name prime256v1 -out p256.param
ca ca-ec "/O=lakewriter/CN=lakewriter test EC CA" ec:p256.param
ca other-ca "/O=elsewhere/CN=other test CA" rsa:2048
q openssl req -x509 -new -newkey ed25519 -nodes -keyout ed25519-ca.key -out ed25519-ca.pem \
    -days 3650 -subj "/CN=ed25519 test CA" -extensions ca -config ext.cnf

leaf int ca rsa:2048 "/O=lakewriter/CN=lakewriter test intermediate" ca
leaf leaf-rsa ca rsa:2048 "/O=lakewriter/CN=localhost" leaf
leaf leaf-ec ca-ec ec:p256.param "/O=lakewriter/CN=localhost" leaf
leaf leaf-int int rsa:2048 "/O=lakewriter/CN=localhost" local
leaf leaf-wrong ca rsa:2048 "/O=lakewriter/CN=wrong.example" wrong
leaf leaf-other other-ca rsa:2048 "/O=elsewhere/CN=localhost" local
cat leaf-int.pem int.pem >leaf-int-chain.pem

# An expired leaf: openssl x509 cannot set dates in the past, openssl ca can.
mkdir -p cadb
: >cadb/index.txt
echo 1000 >cadb/serial
cat >ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = cadb/index.txt
serial = cadb/serial
new_certs_dir = cadb
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
organizationName = optional
[local]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectAltName = DNS:localhost
EOF
q openssl req -new -newkey rsa:2048 -nodes -keyout leaf-expired.key -out leaf-expired.csr \
    -subj "/O=lakewriter/CN=localhost"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in leaf-expired.csr \
    -out leaf-expired.tmp -startdate 20200101000000Z -enddate 20210101000000Z -extensions local -notext
openssl x509 -in leaf-expired.tmp -out leaf-expired.pem
cat ca.pem ca-ec.pem >bundle.pem

# Keys BearSSL can and cannot use as anchors.
odd() { # odd NAME CN NEWKEY-ARGS...
    n=$1 cn=$2
    shift 2
    q openssl req -x509 -new -nodes -keyout "$n.key" -out "$n.pem" -days 3650 -subj "/CN=$cn" "$@"
}
odd odd-p384 "P-384 CA" -newkey ec -pkeyopt ec_paramgen_curve:secp384r1
odd odd-p521 "P-521 CA" -newkey ec -pkeyopt ec_paramgen_curve:secp521r1
odd odd-pss "RSA-PSS CA" -newkey rsa-pss -pkeyopt rsa_keygen_bits:2048
odd odd-k256 "secp256k1 CA" -newkey ec -pkeyopt ec_paramgen_curve:secp256k1
q openssl ecparam -name prime256v1 -genkey -noout -out odd-comp.full
q openssl ec -in odd-comp.full -conv_form compressed -out odd-comp.key
odd odd-comp "compressed P-256 CA" -key odd-comp.key
q openssl req -new -newkey rsa:2048 -nodes -keyout odd-v1.key -subj "/CN=v1 root" -out odd-v1.csr
q openssl x509 -req -in odd-v1.csr -signkey odd-v1.key -days 3650 -out odd-v1.pem
cat odd-p384.pem odd-p521.pem odd-v1.pem odd-pss.pem odd-k256.pem odd-comp.pem >odd-keys.pem
rm -f odd-*.key odd-*.full odd-p384.pem odd-p521.pem odd-v1.pem odd-pss.pem odd-k256.pem odd-comp.pem
rm -rf cadb ca.cnf ext.cnf *.csr *.srl leaf-expired.tmp p256.param
: >done
