#!/usr/bin/env python3
"""Seals one PDF through eseal's SigningService with stock grpcio and stubs generated from
proto/ by grpcio-tools: a client the project did not write (tests/service_python_client.rs).

Usage: seal_with_grpcio.py --target localhost:PORT --ca tls-ca.pem --cert client.pem
       --key client.key --seal ID --authorization AID --request-id RID --case NO
       --input IN.pdf --output OUT.pdf

The generated modules (eseal/v1/*_pb2*.py) must be importable (PYTHONPATH). On success it
writes the sealed document and prints the receipt as one JSON line; on a gRPC error it prints
`grpc-error CODE: message` on stderr and exits 2.
"""
import argparse
import hashlib
import json
import sys

import grpc

from eseal.v1 import common_pb2, signing_pb2, signing_pb2_grpc

CHUNK = 64 * 1024


def requests(args, data):
    placement = common_pb2.Placement(
        page=-1,
        rect=common_pb2.SealRect(
            x=20, y=20, width=40, height=40,
            unit=common_pb2.UNIT_MILLIMETRES, corner=common_pb2.CORNER_BOTTOM_RIGHT,
        ),
    )
    yield signing_pb2.SignDocumentRequest(header=signing_pb2.SignHeader(
        seal_id=args.seal,
        authorization_id=args.authorization,
        request_id=args.request_id,
        placement=placement,
        reason="准予行政许可",
        location="示例市政务服务中心",
        case_number=args.case,
    ))
    for offset in range(0, len(data), CHUNK):
        yield signing_pb2.SignDocumentRequest(chunk=data[offset:offset + CHUNK])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("target", "ca", "cert", "key", "seal", "authorization", "request-id", "case", "input", "output"):
        parser.add_argument("--" + name, required=True)
    args = parser.parse_args()

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca), private_key=read(args.key), certificate_chain=read(args.cert))
    data = read(args.input)
    with grpc.secure_channel(args.target, credentials, options=[("grpc.enable_http_proxy", 0)]) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = signing_pb2_grpc.SigningServiceStub(channel)
        receipt = None
        sealed = bytearray()
        try:
            for response in stub.SignDocument(requests(args, data), timeout=120):
                part = response.WhichOneof("part")
                if part == "receipt":
                    if receipt is not None or sealed:
                        sys.exit("protocol error: a second receipt, or a receipt after chunks")
                    receipt = response.receipt
                elif part == "chunk":
                    if receipt is None:
                        sys.exit("protocol error: a chunk before the receipt")
                    sealed.extend(response.chunk)
                else:
                    sys.exit("protocol error: an empty response message")
        except grpc.RpcError as error:
            print(f"grpc-error {error.code().name}: {error.details()}", file=sys.stderr)
            sys.exit(2)
    if receipt is None:
        sys.exit("protocol error: no receipt")
    if len(sealed) != receipt.output_size or hashlib.sha256(sealed).digest() != receipt.output_sha256:
        sys.exit("the sealed document does not match its receipt")
    if hashlib.sha256(data).digest() != receipt.input_sha256:
        sys.exit("the receipt names another input document")
    with open(args.output, "wb") as f:
        f.write(sealed)
    print(json.dumps({
        "audit_sequence": receipt.audit_sequence,
        "input_sha256": receipt.input_sha256.hex(),
        "output_sha256": receipt.output_sha256.hex(),
        "signing_time": receipt.signing_time,
        "seal_id": receipt.seal_id,
        "seal_certificate_sha256": hashlib.sha256(receipt.seal_certificate).hexdigest(),
        "output_size": receipt.output_size,
        "field_name": receipt.field_name,
        "replayed": receipt.replayed,
        "request_id": receipt.request_id,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
