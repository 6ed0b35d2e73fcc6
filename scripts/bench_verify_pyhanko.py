#!/usr/bin/env python3
"""pyHanko side of the bulk verification benchmark (scripts/bench_verify.sh, BENCHMARKS.md).

    target/test-venv/bin/python scripts/bench_verify_pyhanko.py --trust ROOT.pem --jobs 2 FILE...

Validates every signature of every file with pyHanko's validator, in worker processes (one per
core, as `eseal verify --offline --jobs` uses one thread per core): the signature value, the
signed bytes, the chain to the trust root, and the difference analysis of later revisions,
as `pyhanko sign validate` does. The interpreter start and the imports are not timed (which
favours pyHanko); timed is the wall time from the first file handed to a worker to the last
answer. Prints one JSON object: files, signatures, seconds, files_per_s, and how many
signatures were intact, trusted and free of illegal modifications (so that a benchmark that
measured failures shows it).
"""

import argparse
import json
import multiprocessing
import sys
import time

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko_certvalidator import ValidationContext

_context = None


def _init(trust: str) -> None:
    global _context
    _context = ValidationContext(trust_roots=[load_cert_from_pemder(trust)], allow_fetching=False)


def _validate(path: str):
    """(signatures, signatures that pass) of one file; a file pyHanko cannot read counts as failed."""
    try:
        with open(path, "rb") as f:
            reader = PdfFileReader(f, strict=False)
            total = passed = 0
            for sig in reader.embedded_signatures:
                total += 1
                status = validate_pdf_signature(sig, _context)
                level = status.modification_level
                if status.bottom_line and status.intact and status.trusted and (level is None or level <= ModificationLevel.FORM_FILLING):
                    passed += 1
            return total, passed, None
    except Exception as e:  # noqa: BLE001 - a benchmark counts every failure
        return 0, 0, f"{path}: {e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trust", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    with multiprocessing.Pool(args.jobs, initializer=_init, initargs=(args.trust,)) as pool:
        # Warm each worker's imports and caches on one file before the clock starts.
        pool.map(_validate, args.files[: args.jobs], chunksize=1)
        start = time.perf_counter()
        results = pool.map(_validate, args.files, chunksize=8)
        seconds = time.perf_counter() - start
    errors = [e for _, _, e in results if e]
    out = {
        "validator": "pyhanko",
        "files": len(args.files),
        "signatures": sum(t for t, _, _ in results),
        "signatures_passed": sum(p for _, p, _ in results),
        "errors": errors[:5],
        "error_count": len(errors),
        "seconds": round(seconds, 3),
        "files_per_s": round(len(args.files) / seconds, 2),
        "jobs": args.jobs,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
