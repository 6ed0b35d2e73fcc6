"""Independent implementations for tests/audit_merkle.rs to compare eseal's audit library with.

Reads one JSON request on stdin and writes one JSON answer on stdout:

request  = {"trees": [{"leaves": ["<hex record bytes>", ...],
                       "roots": [size, ...],
                       "inclusion": [[index_from_0, size], ...]}, ...],
            "jcs": ["<JSON text>", ...]}
answer   = {"pymerkle": "<version>", "rfc8785": "<version>",
            "trees": [{"roots": ["<hex>", ...],
                       "inclusion": [{"leaf": "<hex>", "path": ["<hex>", ...]}, ...]}, ...],
            "jcs": [{"hex": "<canonical bytes>"} or {"error": "<message>"}, ...]}

Merkle trees come from pymerkle's InmemoryTree with algorithm='sha256' and its default
security mode, which prefixes leaves with 0x00 and interior nodes with 0x01 as RFC 9162 does.
pymerkle counts leaves from 1 and puts the leaf hash itself first in an inclusion path, then
the siblings from the leaf upwards; "path" here is the siblings only (the RFC 9162 proof) and
"leaf" the leaf hash. Canonical JSON comes from the rfc8785 package.
"""

import json
import sys

import pymerkle
import rfc8785
from importlib.metadata import version
from pymerkle import InmemoryTree, verify_inclusion


def tree_answer(spec):
    tree = InmemoryTree(algorithm="sha256")
    assert tree.security, "pymerkle must run in its RFC 9162 (0x00/0x01 prefix) mode"
    for leaf in spec["leaves"]:
        tree.append_entry(bytes.fromhex(leaf))
    roots = [tree.get_root(size).hex() for size in spec["roots"]]
    inclusion = []
    for index, size in spec["inclusion"]:
        proof = tree.prove_inclusion(index + 1, size)
        # pymerkle's own verifier accepts its proof before we hand it over.
        verify_inclusion(tree.get_leaf(index + 1), tree.get_root(size), proof, index=index + 1, size=size)
        inclusion.append({"leaf": proof.path[0].hex(), "path": [h.hex() for h in proof.path[1:]]})
    return {"roots": roots, "inclusion": inclusion}


def jcs_answer(text):
    try:
        return {"hex": rfc8785.dumps(json.loads(text)).hex()}
    except Exception as exc:  # an input rfc8785 refuses is reported, not fatal
        return {"error": f"{type(exc).__name__}: {exc}"}


def main():
    request = json.load(sys.stdin)
    answer = {
        "pymerkle": pymerkle.__version__,
        "rfc8785": version("rfc8785"),
        "trees": [tree_answer(spec) for spec in request.get("trees", [])],
        "jcs": [jcs_answer(text) for text in request.get("jcs", [])],
    }
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
