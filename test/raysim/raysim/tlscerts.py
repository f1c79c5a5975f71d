"""Test certificates for the dashboard's HTTPS (raysim.py make-certs).

make(dir) runs /usr/bin/openssl to write:
  ca.pem, ca.key          a test CA
  server.pem, server.key  a server certificate for 127.0.0.1 and localhost
                          (subjectAltName), signed by that CA
                          (also usable as a client certificate, as Ray's
                          RAY_TLS_SERVER_CERT is for its own clients)
  client.pem, client.key  a client certificate signed by the CA (mutual
                          TLS to the GCS, --gcs-tls-*)
  other-ca.pem            an unrelated CA: verifying with it must fail
  other-client.pem/.key   a client certificate signed by the unrelated CA
and returns their paths. Keys are 2048-bit RSA, valid for 30 days.
"""
import os
import subprocess

OPENSSL = "/usr/bin/openssl"


def _run(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ca(d, name, cn):
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
         "-keyout", name + ".key", "-out", name + ".pem", "-subj", "/CN=" + cn,
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make(d):
    os.makedirs(d, exist_ok=True)
    _ca(d, "ca", "raysim test CA")
    _ca(d, "other-ca", "raysim unrelated CA")
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n")
    _run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "30", "-out", "server.pem", "-extfile", "server.ext", cwd=d)
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    for name, ca in (("client", "ca"), ("other-client", "other-ca")):
        _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", "/CN=raydar " + name, cwd=d)
        _run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", "30", "-out", name + ".pem", "-extfile", "client.ext", cwd=d)
    return {k: os.path.join(d, v) for k, v in (("ca", "ca.pem"), ("cert", "server.pem"),
                                                ("key", "server.key"), ("other_ca", "other-ca.pem"),
                                                ("client_cert", "client.pem"),
                                                ("client_key", "client.key"),
                                                ("other_client_cert", "other-client.pem"),
                                                ("other_client_key", "other-client.key"))}
