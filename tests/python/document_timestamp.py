"""Adds an RFC 3161 document timestamp to a PDF with pyHanko, from a local TSA key and
certificate (pyHanko's DummyTimeStamper, at a given time): what a PAdES-LTA archive does with
a real TSA.

Usage: document_timestamp.py IN OUT TSA_CERT_PEM TSA_KEY_PKCS8_DER ISSUER_PEM GEN_TIME_UNIX
"""
import sys
from datetime import datetime, timezone

from asn1crypto import keys, pem, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore


def certificate(path):
    data = open(path, "rb").read()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def main():
    source, target, tsa_cert, tsa_key, issuer, gen_time = sys.argv[1:7]
    stamper = DummyTimeStamper(
        tsa_cert=certificate(tsa_cert),
        tsa_key=keys.PrivateKeyInfo.load(open(tsa_key, "rb").read()),
        certs_to_embed=SimpleCertificateStore.from_certs([certificate(issuer)]),
        fixed_dt=datetime.fromtimestamp(int(gen_time), tz=timezone.utc),
    )
    with open(source, "rb") as inf, open(target, "wb") as out:
        writer = IncrementalPdfFileWriter(inf)
        # Leave the Info dictionary (/Producer, /ModDate) as it is: the tests using this are
        # about the timestamp, not about which metadata updates count as allowed.
        writer._update_meta = lambda: None
        signers.PdfTimeStamper(stamper).timestamp_pdf(writer, "sha256", output=out)


if __name__ == "__main__":
    main()
