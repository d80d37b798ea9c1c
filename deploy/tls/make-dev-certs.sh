#!/bin/sh
# Makes a development CA, a server certificate for the collector and a client certificate
# (for mTLS), with openssl. Not for production: the CA key sits next to the certificates.
#
#   deploy/tls/make-dev-certs.sh DIR [HOSTNAME ...]
#
# The server certificate names localhost, 127.0.0.1, ::1 and every HOSTNAME (for example
# "collector", the service name in deploy/docker-compose.yml). Writes, in DIR:
#   ca.pem ca-key.pem                 the CA: clients trust ca.pem
#   server.pem server-key.pem         tls_cert_file / tls_key_file of the collector's listeners
#   client.pem client-key.pem         a client certificate the CA signed (tls_client_ca_file = ca.pem)
set -eu
dir=${1:?usage: make-dev-certs.sh DIR [HOSTNAME ...]}
shift
mkdir -p "$dir"
cd "$dir"
days=825

san="DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"
for name in "$@"; do
    san="$san,DNS:$name"
done

openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=modeltrace development CA" \
    -keyout ca-key.pem -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

sign() {  # name, subject, extensions
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

sign server "/CN=modeltrace collector" \
    "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
sign client "/CN=modeltrace client" \
    "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
rm -f ca.srl
chmod 600 ca-key.pem server-key.pem client-key.pem
echo "wrote ca.pem, server.pem, server-key.pem, client.pem, client-key.pem in $(pwd)"
