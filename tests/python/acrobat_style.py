#!/usr/bin/env python3
"""Builds documents signed by pyHanko, then countersigned the way Acrobat does it: the
countersigning revision also rewrites the XMP /Metadata stream, the Info dictionary's
/ModDate and the signature widgets' /F flags (tests/verifier_changes.rs).

Usage:
  acrobat_style.py sign-first IN OUT KEY CERT CHAIN
      adds two empty signature fields, Sig1 and Sig2, to page 1 (one revision), then signs
      Sig1 with pyHanko (a second revision).
  acrobat_style.py countersign IN OUT KEY CERT CHAIN
      in one revision: rewrites the XMP metadata (in place when the catalog has a metadata
      stream, else a new one), sets Info /ModDate, changes /F (Print, Locked) on Sig2's
      widget, and signs Sig2.
"""
import sys
from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

XMP = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 9.1">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:ModifyDate>2026-12-03T10:00:00+01:00</xmp:ModifyDate>
   <xmp:MetadataDate>2026-12-03T10:00:00+01:00</xmp:MetadataDate>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def signer(key, cert, chain):
    return signers.SimpleSigner.load(key, cert, ca_chain_files=(chain,))


def sign_first(src, dst, key, cert, chain):
    with open(src, 'rb') as f:
        w = IncrementalPdfFileWriter(BytesIO(f.read()))
    fields.append_signature_field(w, fields.SigFieldSpec('Sig1', on_page=0, box=(50, 50, 200, 100)))
    fields.append_signature_field(w, fields.SigFieldSpec('Sig2', on_page=0, box=(250, 50, 400, 100)))
    prepared = BytesIO()
    w.write(prepared)
    prepared.seek(0)
    w = IncrementalPdfFileWriter(prepared)
    meta = signers.PdfSignatureMetadata(field_name='Sig1')
    with open(dst, 'wb') as out:
        signers.sign_pdf(w, meta, signer=signer(key, cert, chain), output=out)


def countersign(src, dst, key, cert, chain):
    with open(src, 'rb') as f:
        w = IncrementalPdfFileWriter(BytesIO(f.read()))
    root = w.root
    # XMP metadata, as Acrobat rewrites it on every save.
    existing = root.raw_get('/Metadata') if '/Metadata' in root else None
    if isinstance(existing, generic.IndirectObject):
        stream = generic.StreamObject(
            {generic.NameObject('/Type'): generic.NameObject('/Metadata'),
             generic.NameObject('/Subtype'): generic.NameObject('/XML')},
            stream_data=XMP)
        w.objects[(existing.generation, existing.idnum)] = stream
        w.mark_update(existing.reference)
    else:
        stream = generic.StreamObject(
            {generic.NameObject('/Type'): generic.NameObject('/Metadata'),
             generic.NameObject('/Subtype'): generic.NameObject('/XML')},
            stream_data=XMP)
        root['/Metadata'] = w.add_object(stream)
        w.update_root()
    # Info /ModDate.
    info_ref = w.trailer.raw_get('/Info') if '/Info' in w.trailer else None
    if isinstance(info_ref, generic.IndirectObject):
        info = info_ref.get_object()
        info['/ModDate'] = generic.pdf_string('D:20261203100000+01\'00\'')
        # pyHanko's signing sets /ModDate to the second it signs in: when both signings fall in
        # one second, /Creator still makes this revision change the Info dictionary.
        info['/Creator'] = generic.pdf_string('Acrobat-style countersigning')
        w.mark_update(info_ref.reference)
    # /F of the widget being signed.
    for ref in root['/AcroForm']['/Fields']:
        field = ref.get_object()
        if field.get('/T') == 'Sig2':
            # Acrobat writes Print and Locked (132); pyHanko's fields may have it already.
            flags = int(field.get('/F', 0))
            field['/F'] = generic.NumberObject(132 if flags != 132 else 4 | 128 | 512)
            w.mark_update(ref.reference)
    meta = signers.PdfSignatureMetadata(field_name='Sig2')
    with open(dst, 'wb') as out:
        signers.sign_pdf(w, meta, signer=signer(key, cert, chain), output=out)


if __name__ == '__main__':
    mode, args = sys.argv[1], sys.argv[2:]
    {'sign-first': sign_first, 'countersign': countersign}[mode](*args)
