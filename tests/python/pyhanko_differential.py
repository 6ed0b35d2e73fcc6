"""pyHanko as the other side of tests/verifier_differential.rs: signs and validates many PDFs in
one Python process (pyHanko's start-up costs about a second per command-line call).

    sign KEY CERT CHAIN FIELD STRICT IN OUT [STRICT IN OUT ...]
        Adds a signature in a new invisible field FIELD, as `pyhanko sign addsig --field FIELD
        pemder --key KEY --cert CERT --chain CHAIN --no-pass IN OUT` does (an encrypted input is
        opened with the empty user password). STRICT is 1, or 0 for --no-strict-syntax.

    countersign KEY CERT CHAIN FIELD EARLIER STRICT IN OUT [STRICT IN OUT ...]
        As sign, and in the same revision, as Acrobat does when it countersigns, changes the
        /F flags of the widget of the earlier signature field EARLIER (pyHanko's signing
        itself updates the Info dictionary and the XMP metadata).

    validate ROOT STRICT FILE [STRICT FILE ...]
        Validates every signature and document timestamp of each FILE as `pyhanko sign
        validate --trust ROOT --trust-replace FILE` does, and prints one JSON line per
        signature: file, field, kind, intact, valid, trusted, coverage, modification_level,
        docmdp_ok, summary (the CLI's status string), error. A file pyHanko cannot read gets one
        line with only file and error.
"""

import json
import logging
import sys

from pyhanko.cli._trust import build_vc_kwargs
from pyhanko.pdf_utils import crypt, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext


def pairs(items, size):
    if len(items) % size:
        sys.exit(f"arguments must come in groups of {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]


def touch_flags(writer, earlier):
    """Changes the /F flags of the widget of the signature field named `earlier`."""
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") != earlier:
            continue
        widget_ref = field["/Kids"][0] if "/Kids" in field else ref
        widget = widget_ref.get_object()
        widget["/F"] = generic.NumberObject(6 if widget.get("/F") == 4 else 4)
        writer.mark_update(widget_ref)
        return
    sys.exit(f"no field {earlier}")


def sign(args, earlier=None):
    key, cert, chain, field = args[:4]
    signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(chain,))
    if signer is None:
        sys.exit(f"cannot load the key {key} and certificate {cert}")
    for strict, source, target in pairs(args[4:], 3):
        with open(source, "rb") as inf:
            writer = IncrementalPdfFileWriter(inf, strict=strict == "1")
            if writer.prev.encrypted:
                writer.encrypt("")
            if earlier is not None:
                touch_flags(writer, earlier)
            meta = signers.PdfSignatureMetadata(field_name=field)
            with open(target, "wb") as outf:
                signers.sign_pdf(writer, meta, signer=signer, output=outf)


def name(value):
    return None if value is None else value.name


def validate(args):
    root = args[0]
    vc_kwargs = build_vc_kwargs(
        cli_config=None,
        validation_context=None,
        trust=[root],
        trust_replace=True,
        eutl_all=False,
        eutl_force_redownload=False,
        eutl_territories=None,
        other_certs=[],
        revocation_policy="hard-fail",
        retroactive_revinfo=False,
        allow_fetching=True,
    )
    for strict, path in pairs(args[1:], 2):
        try:
            reader = PdfFileReader(open(path, "rb"), strict=strict == "1")
            if isinstance(reader.security_handler, crypt.StandardSecurityHandler):
                reader.decrypt("")
            signatures = list(reader.embedded_signatures)
        except Exception as e:  # the file as a whole: reported, not fatal
            print(json.dumps({"file": path, "error": f"{type(e).__name__}: {e}"}), flush=True)
            continue
        for sig in signatures:
            timestamp = sig.sig_object_type == "/DocTimeStamp"
            line = {"file": path, "field": sig.field_name, "kind": "timestamp" if timestamp else "signature"}
            try:
                if timestamp:
                    status = validate_pdf_timestamp(sig, validation_context=ValidationContext(**vc_kwargs))
                else:
                    status = validate_pdf_signature(sig, signer_validation_context=ValidationContext(**vc_kwargs))
                line.update(
                    intact=bool(status.intact),
                    valid=bool(status.valid),
                    trusted=bool(status.trusted),
                    coverage=name(getattr(status, "coverage", None)),
                    modification_level=name(getattr(status, "modification_level", None)),
                    docmdp_ok=getattr(status, "docmdp_ok", None),
                    summary=status.summary(),
                    error=None,
                )
            except SignatureValidationError as e:
                # The command line prints INVALID for these.
                line.update(intact=False, valid=False, trusted=False, coverage=None, modification_level=None, docmdp_ok=None, summary="INVALID", error=str(e))
            print(json.dumps(line), flush=True)


def main():
    # pyHanko logs every untrusted path with a traceback; the JSON lines say it already.
    logging.disable(logging.CRITICAL)
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "sign":
        sign(sys.argv[2:])
    elif command == "countersign" and len(sys.argv) > 7:
        sign(sys.argv[2:6] + sys.argv[7:], earlier=sys.argv[6])
    elif command == "validate":
        validate(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
