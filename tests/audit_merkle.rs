//! The audit library's Merkle tree, checkpoints and proof files: published test vectors, an
//! exhaustive check of every small tree against the RFC 9162 recursive definitions, and
//! cross-checks against independent implementations (PyPI pymerkle and rfc8785, installed into
//! the test venv by scripts/install-test-tools.sh).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use eseal_audit::merkle::{
    EMPTY_ROOT, Hash, HashStore, MemoryStore, MerkleTree, append_nodes, leaf_hash, node_hash,
    root_from_inclusion_proof, verify_consistency, verify_inclusion,
};
use eseal_audit::{AuditError, AuditEvent, AuditRecord, EventKind, ProofFile, canonical_json};
use eseal_audit::{Checkpoint, LogSigner, LogVerifier, key_id};
use eseal_encoding::base64;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

use eseal_encoding::hex;

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex {text:?}");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn h(text: &str) -> Hash {
    unhex(text).try_into().unwrap()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, data).as_ref().try_into().unwrap()
}

/// A small deterministic generator (splitmix64), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn tree_of(leaves: &[Hash]) -> MerkleTree<MemoryStore> {
    let mut tree = MerkleTree::in_memory();
    for leaf in leaves {
        tree.append(*leaf).unwrap();
    }
    tree
}

// ---------------------------------------------------------------------------------------------
// The RFC 9162 section 2.1 recursive definitions, written as plainly as the RFC states them,
// to check the stored-subtree tree against.

/// The largest power of two smaller than n (n > 1).
fn ref_split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) over leaf hashes.
fn ref_mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(b""),
        1 => leaves[0],
        n => {
            let k = ref_split(n);
            node_hash(&ref_mth(&leaves[..k]), &ref_mth(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]).
fn ref_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = ref_split(n);
    if m < k {
        let mut p = ref_path(m, &leaves[..k]);
        p.push(ref_mth(&leaves[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &leaves[k..]);
        p.push(ref_mth(&leaves[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b).
fn ref_subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { vec![] } else { vec![ref_mth(leaves)] };
    }
    let k = ref_split(n);
    if m <= k {
        let mut p = ref_subproof(m, &leaves[..k], b);
        p.push(ref_mth(&leaves[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &leaves[k..], false);
        p.push(ref_mth(&leaves[..k]));
        p
    }
}

/// PROOF(m, D[n]).
fn ref_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    ref_subproof(m, leaves, true)
}

// ---------------------------------------------------------------------------------------------
// Corruption probes, after transparency-dev/merkle proof/verify_test.go (corruptInclusionProof
// and corruptConsistencyProof): every variant must be refused.

const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn inclusion_probes(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Vec<String> {
    let mut accepted = Vec::new();
    let mut probe =
        |desc: String, leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
            if verify_inclusion(leaf, index, size, proof, root) {
                accepted.push(desc);
            }
        };
    let some = h(SOME_HASH);
    if index > 0 {
        probe("index - 1".into(), leaf, index - 1, size, proof, root);
    }
    probe("index + 1".into(), leaf, index + 1, size, proof, root);
    probe("index ^ 2".into(), leaf, index ^ 2, size, proof, root);
    probe("size * 2".into(), leaf, index, size * 2, proof, root);
    probe("size / 2".into(), leaf, index, size / 2, proof, root);
    probe("wrong leaf".into(), &leaf_hash(b"WrongLeaf"), index, size, proof, root);
    probe("empty root".into(), leaf, index, size, proof, &EMPTY_ROOT);
    probe("random root".into(), leaf, index, size, proof, &some);
    let with = |front: Option<Hash>, back: Option<Hash>| -> Vec<Hash> {
        front.into_iter().chain(proof.iter().copied()).chain(back).collect()
    };
    probe("trailing garbage".into(), leaf, index, size, &with(None, Some([0; 32])), root);
    probe("trailing root".into(), leaf, index, size, &with(None, Some(*root)), root);
    probe("preceding garbage".into(), leaf, index, size, &with(Some([0; 32]), None), root);
    probe("preceding root".into(), leaf, index, size, &with(Some(*root), None), root);
    for i in 0..proof.len() {
        for bit in [0u8, 3, 7] {
            let mut wrong = proof.to_vec();
            wrong[i][i % 32] ^= 1 << bit;
            probe(format!("proof[{i}] bit {bit}"), leaf, index, size, &wrong, root);
        }
    }
    if !proof.is_empty() {
        probe("removed component".into(), leaf, index, size, &proof[..proof.len() - 1], root);
    }
    if proof.len() > 1 {
        let mut wrong = proof.to_vec();
        wrong.insert(1, some);
        probe("inserted component".into(), leaf, index, size, &wrong, root);
        let mut swapped = proof.to_vec();
        swapped.swap(0, 1);
        if swapped != proof {
            probe("swapped components".into(), leaf, index, size, &swapped, root);
        }
    }
    accepted
}

fn consistency_probes(
    first: u64,
    second: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Vec<String> {
    let mut accepted = Vec::new();
    let mut probe =
        |desc: String, first: u64, second: u64, root1: &Hash, root2: &Hash, proof: &[Hash]| {
            if verify_consistency(first, second, root1, root2, proof) {
                accepted.push(desc);
            }
        };
    let wrong_root = leaf_hash(b"WrongRoot");
    probe("first - 1".into(), first - 1, second, root1, root2, proof);
    probe("first + 1".into(), first + 1, second, root1, root2, proof);
    probe("first ^ 2".into(), first ^ 2, second, root1, root2, proof);
    probe("second * 2".into(), first, second * 2, root1, root2, proof);
    probe("second / 2".into(), first, second / 2, root1, root2, proof);
    probe("wrong root1".into(), first, second, &wrong_root, root2, proof);
    probe("wrong root2".into(), first, second, root1, &wrong_root, proof);
    probe("swapped roots".into(), first, second, root2, root1, proof);
    probe("empty proof".into(), first, second, root1, root2, &[]);
    let with = |front: Option<Hash>, back: Option<Hash>| -> Vec<Hash> {
        front.into_iter().chain(proof.iter().copied()).chain(back).collect()
    };
    probe("trailing garbage".into(), first, second, root1, root2, &with(None, Some([0; 32])));
    probe("trailing root1".into(), first, second, root1, root2, &with(None, Some(*root1)));
    probe("trailing root2".into(), first, second, root1, root2, &with(None, Some(*root2)));
    probe("preceding garbage".into(), first, second, root1, root2, &with(Some([0; 32]), None));
    probe("preceding root1".into(), first, second, root1, root2, &with(Some(*root1), None));
    probe("preceding root2".into(), first, second, root1, root2, &with(Some(*root2), None));
    probe("preceding proof[0]".into(), first, second, root1, root2, &with(Some(proof[0]), None));
    probe("truncated proof".into(), first, second, root1, root2, &proof[..proof.len() - 1]);
    for i in 0..proof.len() {
        for bit in [0u8, 4, 7] {
            let mut wrong = proof.to_vec();
            wrong[i][(i * 7) % 32] ^= 1 << bit;
            probe(format!("proof[{i}] bit {bit}"), first, second, root1, root2, &wrong);
        }
    }
    accepted
}

// ---------------------------------------------------------------------------------------------
// Published test vectors.
//
// The reference tree of google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc
// (kInputs, kSHA256Roots, kSHA256Paths, kSHA256Proofs), also used by
// transparency-dev/merkle, proof/verify_test.go (leaves, roots, inclusionProofs,
// consistencyProofs, which adds the 6 -> 7 consistency proof). In those files leaf numbers of
// inclusion proofs count from 1; here `index` counts from 0.

const CT_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const CT_EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// (leaf index from 0, tree size, proof).
const CT_INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (first size, second size, proof).
const CT_CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn ct_leaves() -> Vec<Hash> {
    CT_INPUTS.iter().map(|i| leaf_hash(&unhex(i))).collect()
}

#[test]
fn ct_reference_tree_roots() {
    assert_eq!(hex(&EMPTY_ROOT), CT_EMPTY_ROOT);
    let mut tree = MerkleTree::in_memory();
    assert_eq!(hex(&tree.current_root().unwrap()), CT_EMPTY_ROOT);
    for (i, input) in CT_INPUTS.iter().enumerate() {
        assert_eq!(tree.append(leaf_hash(&unhex(input))).unwrap(), i as u64 + 1);
        assert_eq!(hex(&tree.current_root().unwrap()), CT_ROOTS[i], "root of size {}", i + 1);
        // Every earlier size keeps its root.
        for (j, root) in CT_ROOTS.iter().enumerate().take(i + 1) {
            assert_eq!(hex(&tree.root(j as u64 + 1).unwrap()), *root);
        }
        assert_eq!(tree.root(0).unwrap(), EMPTY_ROOT);
        assert!(tree.root(i as u64 + 2).is_err());
    }
}

#[test]
fn ct_reference_tree_inclusion_proofs() {
    let leaves = ct_leaves();
    let tree = tree_of(&leaves);
    for (index, size, expected) in CT_INCLUSION {
        let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
        let proof = tree.inclusion_proof(index, size).unwrap();
        assert_eq!(proof, expected, "inclusion proof of leaf {index} in size {size}");
        let root = h(CT_ROOTS[size as usize - 1]);
        let leaf = leaves[index as usize];
        assert_eq!(root_from_inclusion_proof(&leaf, index, size, &expected), Some(root));
        assert!(verify_inclusion(&leaf, index, size, &expected, &root));
        let accepted = inclusion_probes(&leaf, index, size, &expected, &root);
        assert!(
            accepted.is_empty(),
            "leaf {index} size {size}: corrupted proofs accepted: {accepted:?}"
        );
    }
    // The invalid probes of CT's VerifyPath.
    let some = h(SOME_HASH);
    for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
        assert!(!verify_inclusion(&some, index, size, &[], &EMPTY_ROOT));
        assert!(!verify_inclusion(&EMPTY_ROOT, index, size, &[], &some));
    }
}

#[test]
fn ct_reference_tree_consistency_proofs() {
    let tree = tree_of(&ct_leaves());
    for (first, second, expected) in CT_CONSISTENCY {
        let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
        assert_eq!(
            tree.consistency_proof(first, second).unwrap(),
            expected,
            "consistency {first} -> {second}"
        );
        let (root1, root2) = (h(CT_ROOTS[first as usize - 1]), h(CT_ROOTS[second as usize - 1]));
        assert!(verify_consistency(first, second, &root1, &root2, &expected));
        if !expected.is_empty() {
            let accepted = consistency_probes(first, second, &root1, &root2, &expected);
            assert!(
                accepted.is_empty(),
                "{first} -> {second}: corrupted proofs accepted: {accepted:?}"
            );
        }
    }
    // The edge cases of transparency-dev/merkle's TestVerifyConsistency, in this library's
    // stricter form (a tree of size 0 must have the empty root).
    let (a, b) = (h(SOME_HASH), leaf_hash(b"x"));
    assert!(verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]));
    assert!(verify_consistency(0, 1, &EMPTY_ROOT, &b, &[]));
    assert!(verify_consistency(1, 1, &b, &b, &[]));
    assert!(!verify_consistency(0, 0, &a, &b, &[]));
    assert!(!verify_consistency(1, 1, &a, &b, &[]));
    assert!(!verify_consistency(1, 0, &a, &b, &[]));
    assert!(!verify_consistency(2, 1, &a, &b, &[]));
    assert!(!verify_consistency(1, 2, &a, &b, &[]));
    assert!(!verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[EMPTY_ROOT]));
    assert!(!verify_consistency(0, 1, &EMPTY_ROOT, &EMPTY_ROOT, &[EMPTY_ROOT]));
    assert!(!verify_consistency(1, 1, &EMPTY_ROOT, &EMPTY_ROOT, &[EMPTY_ROOT]));
    assert!(!verify_consistency(0, 1, &a, &b, &[]), "a size-0 tree has the empty root");
}

// ---------------------------------------------------------------------------------------------
// Every tree up to 64 leaves.

#[test]
fn every_small_tree_matches_rfc_9162_and_refuses_corruption() {
    const MAX: usize = 64;
    let leaves: Vec<Hash> =
        (0..MAX as u32).map(|i| leaf_hash(format!("record {i}").as_bytes())).collect();
    let mut tree = MerkleTree::in_memory();
    for n in 1..=MAX {
        tree.append(leaves[n - 1]).unwrap();
        assert_eq!(
            tree.current_root().unwrap(),
            ref_mth(&leaves[..n]),
            "root while growing, size {n}"
        );
    }
    let mut inclusion_checked = 0;
    let mut consistency_checked = 0;
    for n in 0..=MAX {
        let size = n as u64;
        let root = ref_mth(&leaves[..n]);
        assert_eq!(tree.root(size).unwrap(), root, "root of size {n}");
        assert!(tree.inclusion_proof(size, size).is_err());
        for i in 0..n {
            let proof = tree.inclusion_proof(i as u64, size).unwrap();
            assert_eq!(proof, ref_path(i, &leaves[..n]), "PATH({i}, D[{n}])");
            assert!(
                verify_inclusion(&leaves[i], i as u64, size, &proof, &root),
                "leaf {i} size {n}"
            );
            let accepted = inclusion_probes(&leaves[i], i as u64, size, &proof, &root);
            assert!(accepted.is_empty(), "leaf {i} size {n}: accepted {accepted:?}");
            // Another leaf's hash at this position is refused.
            let other = leaves[(i + 1) % MAX];
            assert!(!verify_inclusion(&other, i as u64, size, &proof, &root));
            inclusion_checked += 1;
        }
        assert!(tree.consistency_proof(0, size).is_err());
        for m in 1..=n {
            let proof = tree.consistency_proof(m as u64, size).unwrap();
            assert_eq!(proof, ref_proof(m, &leaves[..n]), "PROOF({m}, D[{n}])");
            let root_m = ref_mth(&leaves[..m]);
            assert!(verify_consistency(m as u64, size, &root_m, &root, &proof), "{m} -> {n}");
            if m < n {
                let accepted = consistency_probes(m as u64, size, &root_m, &root, &proof);
                assert!(accepted.is_empty(), "{m} -> {n}: accepted {accepted:?}");
                // A different history (one leaf of the first tree changed) is not consistent.
                let mut forked = leaves[..n].to_vec();
                forked[m - 1] = leaf_hash(b"forked");
                assert!(!verify_consistency(m as u64, size, &ref_mth(&forked[..m]), &root, &proof));
                assert!(!verify_consistency(m as u64, size, &root_m, &ref_mth(&forked), &proof));
            }
            consistency_checked += 1;
        }
        if n < MAX {
            assert!(tree.inclusion_proof(0, size + 65).is_err());
        }
    }
    assert_eq!(inclusion_checked, MAX * (MAX + 1) / 2);
    assert_eq!(consistency_checked, MAX * (MAX + 1) / 2);
}

#[test]
fn proofs_cost_logarithmic_reads() {
    /// Counts reads.
    struct Counting(MemoryStore, std::cell::Cell<u64>);
    impl HashStore for Counting {
        fn get(&self, level: u8, index: u64) -> Option<Hash> {
            self.1.set(self.1.get() + 1);
            self.0.get(level, index)
        }
        fn put(&mut self, level: u8, index: u64, hash: Hash) {
            self.0.put(level, index, hash)
        }
    }
    let mut tree = MerkleTree::new(Counting(MemoryStore::new(), std::cell::Cell::new(0)));
    let mut rng = Rng(7);
    let mut max_append_reads = 0;
    for i in 0..5000u64 {
        let before = tree.store().1.get();
        tree.append(leaf_hash(&i.to_le_bytes())).unwrap();
        max_append_reads = max_append_reads.max(tree.store().1.get() - before);
    }
    // log2(5000) < 13: an append reads at most 12 left siblings, a proof at most 2 * 13 nodes.
    assert!(max_append_reads <= 12, "an append read {max_append_reads} nodes");
    for _ in 0..2000 {
        let size = 1 + rng.below(5000);
        let index = rng.below(size);
        let before = tree.store().1.get();
        tree.inclusion_proof(index, size).unwrap();
        let reads = tree.store().1.get() - before;
        assert!(reads <= 2 * 13, "inclusion proof ({index}, {size}) read {reads} nodes");
        let first = 1 + rng.below(size);
        let before = tree.store().1.get();
        tree.consistency_proof(first, size).unwrap();
        let reads = tree.store().1.get() - before;
        assert!(reads <= 2 * 13 + 1, "consistency proof ({first}, {size}) read {reads} nodes");
        let before = tree.store().1.get();
        tree.root(size).unwrap();
        assert_eq!(tree.store().1.get() - before, u64::from(size.count_ones()));
    }
}

#[test]
fn a_tree_reopened_from_its_store_continues_identically() {
    let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut whole = tree_of(&leaves[..200]);
    let mut part = tree_of(&leaves[..123]);
    let store = part.store().clone();
    let mut reopened = MerkleTree::open(store, 123).unwrap();
    for leaf in &leaves[123..200] {
        reopened.append(*leaf).unwrap();
        part.append(*leaf).unwrap();
    }
    assert_eq!(reopened.current_root().unwrap(), whole.current_root().unwrap());
    assert_eq!(part.current_root().unwrap(), whole.current_root().unwrap());
    whole.append(leaves[200]).unwrap();
    assert_eq!(whole.current_root().unwrap(), ref_mth(&leaves[..201]));
    // The nodes a persistent store must keep per append are exactly the ones written.
    // Leaf 199 = 0b1100_0111 completes three subtrees; leaf 200 none.
    assert_eq!(append_nodes(199).collect::<Vec<_>>(), vec![(0, 199), (1, 99), (2, 49), (3, 24)]);
    assert_eq!(append_nodes(200).collect::<Vec<_>>(), vec![(0, 200)]);
    assert_eq!(
        append_nodes(255).collect::<Vec<_>>(),
        (0..=8).map(|l| (l, 255u64 >> l)).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// Independent implementations (PyPI pymerkle and rfc8785).

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("ESEAL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import pymerkle, rfc8785"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} with pymerkle and rfc8785 is missing: run scripts/test.sh (or scripts/install-test-tools.sh)",
        python.display()
    );
    python
}

fn crosscheck(request: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/audit_crosscheck.py");
    let mut child = Command::new(venv_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the cross-check script");
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "audit_crosscheck.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the cross-check script's answer is JSON")
}

#[test]
fn roots_and_inclusion_proofs_match_pymerkle() {
    let mut rng = Rng(0x5eed);
    let mut sizes: Vec<usize> =
        vec![1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 65, 127, 128, 129, 1000, 1024, 1025];
    for _ in 0..12 {
        sizes.push(1 + rng.below(600) as usize);
    }
    let mut trees = Vec::new();
    let mut specs = Vec::new();
    for &n in &sizes {
        let records: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let len = rng.below(80) as usize;
                rng.bytes(len)
            })
            .collect();
        let mut tree = MerkleTree::in_memory();
        for r in &records {
            tree.append_record(r).unwrap();
        }
        let mut roots: Vec<u64> = if n <= 130 {
            (0..=n as u64).collect()
        } else {
            vec![0, 1, n as u64 / 2, n as u64 - 1, n as u64]
        };
        for _ in 0..10 {
            roots.push(1 + rng.below(n as u64));
        }
        let mut inclusion: Vec<(u64, u64)> = vec![(0, n as u64), (n as u64 - 1, n as u64)];
        for _ in 0..40 {
            let size = 1 + rng.below(n as u64);
            inclusion.push((rng.below(size), size));
        }
        specs.push(json!({
            "leaves": records.iter().map(|r| hex(r)).collect::<Vec<_>>(),
            "roots": roots,
            "inclusion": inclusion,
        }));
        trees.push((tree, roots, inclusion));
    }
    let answer = crosscheck(&json!({ "trees": specs }));
    assert_eq!(answer["pymerkle"], "7.0.0");
    let mut compared = 0;
    for (t, (tree, roots, inclusion)) in trees.iter().enumerate() {
        let theirs = &answer["trees"][t];
        for (i, size) in roots.iter().enumerate() {
            assert_eq!(
                hex(&tree.root(*size).unwrap()),
                theirs["roots"][i],
                "tree {t}: root of size {size}"
            );
            compared += 1;
        }
        for (i, (index, size)) in inclusion.iter().enumerate() {
            let ours = tree.inclusion_proof(*index, *size).unwrap();
            let their_path: Vec<String> = theirs["inclusion"][i]["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(
                theirs["inclusion"][i]["leaf"],
                hex(&tree.leaf(*index).unwrap()),
                "tree {t}: leaf {index}"
            );
            assert_eq!(
                ours.iter().map(|x| hex(x)).collect::<Vec<_>>(),
                their_path,
                "tree {t}: inclusion ({index}, {size})"
            );
            compared += 1;
        }
    }
    println!("{compared} roots and inclusion proofs of {} trees agree with pymerkle", trees.len());
}

fn tricky_records() -> Vec<AuditRecord> {
    let strings = [
        "审批-2026-001",
        "emoji 😀 and 🇨🇳 flag",
        "quote \" backslash \\ slash / done",
        "controls \u{0}\u{1}\u{8}\u{9}\u{a}\u{c}\u{d}\u{1f} end",
        "del \u{7f} nbsp \u{a0} bom \u{feff} ls \u{2028} ps \u{2029}",
        "e\u{301} vs \u{e9}",
        "\u{fffd}\u{ffff}\u{10ffff}",
        "",
        "<script>&amp;</script>",
    ];
    let mut records = Vec::new();
    for (i, s) in strings.iter().enumerate() {
        let mut event = AuditEvent::new(EventKind::CallRefused, *s);
        event.reason = Some(format!("reason: {s}"));
        event.case_number = Some(s.to_string());
        event.method = Some("/eseal.v1.Signing/Seal".into());
        event.input_sha256 = Some(hex(&sha256(s.as_bytes())));
        records.push(AuditRecord {
            sequence: i as u64 + 1,
            time: 1_800_000_000 + i as i64,
            origin: format!("eseal.example/log{s}"),
            event,
        });
    }
    let mut event = AuditEvent::new(EventKind::DocumentSealed, "approval-system");
    event.seal_id = Some("approval-ec".into());
    event.authorization_id = Some("auth-1".into());
    event.request_id = Some("req-\u{1f600}".into());
    event.output_sha256 = Some("00".repeat(32));
    event.seal_certificate_sha256 = Some("ff".repeat(32));
    records.push(AuditRecord {
        sequence: 9_007_199_254_740_991,
        time: -1,
        origin: "eseal.example/log".into(),
        event,
    });
    records
}

#[test]
fn canonical_json_matches_rfc8785() {
    let records = tricky_records();
    let mut texts: Vec<String> =
        records.iter().map(|r| String::from_utf8(r.to_canonical_json()).unwrap()).collect();
    // Key order by UTF-16 code units, nesting, escapes, and integers in the safe range.
    let values = [
        r#"{"b":1,"a":2,"":3,"A":4,"aa":5,"a\u0000":6,"\u00e9":7,"\u20ac":8,"\ud83d\ude00":9,"\ufb01":10,"\uffff":11}"#,
        r#"{"z":{"y":[{"b":null,"a":true},false,[]],"x":{}},"\u0080":"\u0080","\u007f":"\u001f"}"#,
        r#"["\"\\\/\b\f\n\r\t","\u2028\u2029","\ud834\udd1e",0,1,-1,9007199254740991,-9007199254740991]"#,
        r#"{"\ud800\udc00":1,"\uffef":2,"\ue000":3}"#,
        r#"{"long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
    ];
    texts.extend(values.iter().map(|v| v.to_string()));
    let answer = crosscheck(&json!({ "jcs": texts }));
    assert_eq!(answer["rfc8785"], "0.1.4");
    for (i, text) in texts.iter().enumerate() {
        let value: Value = serde_json::from_str(text).unwrap();
        let ours = canonical_json(&value);
        let theirs = &answer["jcs"][i];
        assert!(theirs.get("error").is_none(), "rfc8785 refused {text}: {}", theirs["error"]);
        assert_eq!(
            hex(&ours),
            theirs["hex"],
            "canonical form of {text}:\nours   {}",
            String::from_utf8_lossy(&ours)
        );
        if i < records.len() {
            // A record's bytes are already canonical: rfc8785 gives them back unchanged.
            assert_eq!(ours, text.as_bytes());
            assert_eq!(AuditRecord::from_json(text.as_bytes()).unwrap(), records[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints.

fn signer(name: &str, seed: u8) -> LogSigner {
    LogSigner::from_seed(name, &[seed; 32]).unwrap()
}

#[test]
fn key_id_is_the_c2sp_definition() {
    let s = signer("eseal.example/log", 1);
    // SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4], by hand.
    let mut input = b"eseal.example/log".to_vec();
    input.push(0x0a);
    input.push(0x01);
    input.extend_from_slice(&s.public_key());
    let expected: [u8; 4] = sha256(&input)[..4].try_into().unwrap();
    assert_eq!(s.key_id(), expected);
    assert_eq!(key_id("eseal.example/log", &s.public_key()), expected);
    // The verifier key carries it as 8 hex digits, the signature blob as its first 4 bytes.
    let vkey = s.verifier_key();
    assert_eq!(vkey.split('+').nth(1).unwrap(), hex(&expected));
    let note =
        s.sign(&Checkpoint { origin: "eseal.example/log".into(), size: 1, root: [0; 32] }).unwrap();
    let sig = note.lines().last().unwrap().rsplit(' ').next().unwrap();
    let blob = base64::decode(sig).unwrap();
    assert_eq!(blob.len(), 68);
    assert_eq!(&blob[..4], &expected);

    // The published key of golang.org/x/mod/sumdb/note (package example, note_test.go):
    // PeterNeumann+c74f20a3+<base64(0x01 || key)>, its id recomputed from the definition.
    let published = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let key = base64::decode(published.splitn(3, '+').nth(2).unwrap()).unwrap();
    let mut input = b"PeterNeumann\n".to_vec();
    input.extend_from_slice(&key);
    assert_eq!(hex(&sha256(&input)[..4]), "c74f20a3");
    assert_eq!(LogVerifier::from_verifier_key(published).unwrap().verifier_key(), published);
}

#[test]
fn checkpoint_notes_round_trip_and_tampering_is_refused() {
    let origin = "eseal.example/log";
    let s = signer(origin, 1);
    let verifier = LogVerifier::from_verifier_key(&s.verifier_key()).unwrap();
    assert_eq!(verifier, s.verifier());
    assert_eq!(verifier.to_string(), s.verifier_key());

    let tree = tree_of(&ct_leaves());
    let cp = Checkpoint { origin: origin.into(), size: 8, root: tree.current_root().unwrap() };
    let note = s.sign(&cp).unwrap();
    assert_eq!(note.lines().count(), 5);
    assert!(note.starts_with(&format!(
        "{origin}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\u{2014} {origin} "
    )));
    assert_eq!(verifier.verify_note(&note).unwrap(), cp);

    // Another key, same name: its signature is by an unknown key (other id), so no signature
    // by the log key remains.
    let other = signer(origin, 2);
    let forged = other.sign(&cp).unwrap();
    assert!(matches!(verifier.verify_note(&forged), Err(AuditError::NotSignedByLogKey(_))));

    // A changed size, root or origin breaks the signature.
    let body = cp.to_body().unwrap();
    let sig_line = &note[body.len() + 1..];
    for (what, changed) in [
        ("size", Checkpoint { size: 7, ..cp.clone() }),
        ("root", Checkpoint { root: h(CT_ROOTS[6]), ..cp.clone() }),
        ("origin", Checkpoint { origin: "eseal.example/other".into(), ..cp.clone() }),
    ] {
        let tampered = format!("{}\n{sig_line}", changed.to_body().unwrap());
        assert!(
            matches!(verifier.verify_note(&tampered), Err(AuditError::BadSignature { .. })),
            "changed {what} accepted"
        );
    }

    // A changed key name makes the signature one by an unknown key.
    let renamed = note.replace(&format!("\u{2014} {origin} "), "\u{2014} eseal.example/logs ");
    assert!(matches!(verifier.verify_note(&renamed), Err(AuditError::NotSignedByLogKey(_))));
    // A changed key id too.
    let mut blob = base64::decode(sig_line.trim_end().rsplit(' ').next().unwrap()).unwrap();
    blob[0] ^= 1;
    let reid = format!("{body}\n\u{2014} {origin} {}\n", base64::encode(&blob));
    assert!(matches!(verifier.verify_note(&reid), Err(AuditError::NotSignedByLogKey(_))));
    // A verifier expecting another name refuses the note.
    let wrong_name = LogVerifier::new("eseal.example/other", s.public_key()).unwrap();
    assert!(matches!(wrong_name.verify_note(&note), Err(AuditError::NotSignedByLogKey(_))));
    // A flipped signature bit, with the right name and id.
    let mut blob = base64::decode(sig_line.trim_end().rsplit(' ').next().unwrap()).unwrap();
    blob[40] ^= 0x20;
    let flipped = format!("{body}\n\u{2014} {origin} {}\n", base64::encode(&blob));
    assert!(matches!(verifier.verify_note(&flipped), Err(AuditError::BadSignature { .. })));

    // Signatures by unknown keys are ignored (witness cosignatures, key rotation) ...
    let cosigned = format!("{note}{}", &forged[body.len() + 1..]);
    assert_eq!(verifier.verify_note(&cosigned).unwrap(), cp);
    let cosigned_first = format!("{body}\n{}{sig_line}", &forged[body.len() + 1..]);
    assert_eq!(verifier.verify_note(&cosigned_first).unwrap(), cp);
    // ... but a bad signature by the log key is not excused by a good one.
    let mixed = format!("{note}{}", &flipped[body.len() + 1..]);
    assert!(matches!(verifier.verify_note(&mixed), Err(AuditError::BadSignature { .. })));

    // Malformed notes.
    for (what, bad) in [
        ("trailing data", format!("{note}extra")),
        ("trailing line", format!("{note}extra\n")),
        ("trailing blank line", format!("{note}\n")),
        ("no final newline", note.trim_end_matches('\n').to_string()),
        ("no blank line", note.replacen("\n\n", "\n", 1)),
        ("CRLF", note.replace('\n', "\r\n")),
        ("hyphen for em dash", note.replace('\u{2014}', "-")),
        ("tab", note.replacen(' ', "\t", 1)),
        ("empty", String::new()),
        ("only the body", body.clone()),
        ("extension line", format!("{body}ext\n\n{sig_line}")),
    ] {
        assert!(verifier.verify_note(&bad).is_err(), "{what} accepted");
    }
    let many = format!("{note}{}", sig_line.repeat(100));
    assert!(matches!(verifier.verify_note(&many), Err(AuditError::MalformedNote(_))));
}

#[test]
fn signing_keys_load_and_generate() {
    let (generated, pkcs8) = LogSigner::generate("eseal.example/log").unwrap();
    let loaded = LogSigner::from_pkcs8("eseal.example/log", &pkcs8).unwrap();
    assert_eq!(loaded.public_key(), generated.public_key());
    assert_eq!(loaded.verifier_key(), generated.verifier_key());
    let cp = Checkpoint { origin: "eseal.example/log".into(), size: 0, root: EMPTY_ROOT };
    let note = loaded.sign(&cp).unwrap();
    assert_eq!(generated.verifier().verify_note(&note).unwrap(), cp);
    let (second, _) = LogSigner::generate("eseal.example/log").unwrap();
    assert_ne!(second.public_key(), generated.public_key());
    assert!(second.verifier().verify_note(&note).is_err());
    assert!(LogSigner::from_pkcs8("eseal.example/log", b"not a key").is_err());
    assert!(LogSigner::generate("bad name").is_err());
    // Debug output names the key but shows no secret.
    let debug = format!("{generated:?}");
    assert!(debug.contains("eseal.example/log") && !debug.contains(&hex(&pkcs8[16..48])));
}

// ---------------------------------------------------------------------------------------------
// Proof files.

fn log_of(origin: &str, n: u64) -> (Vec<Vec<u8>>, MerkleTree<MemoryStore>) {
    let mut records = Vec::new();
    let mut tree = MerkleTree::in_memory();
    for seq in 1..=n {
        let mut event = AuditEvent::new(EventKind::DocumentSealed, "approval-system");
        event.case_number = Some(format!("审批-{seq}"));
        let bytes = AuditRecord {
            sequence: seq,
            time: 1_800_000_000 + seq as i64,
            origin: origin.into(),
            event,
        }
        .to_canonical_json();
        tree.append_record(&bytes).unwrap();
        records.push(bytes);
    }
    (records, tree)
}

fn proof_file(
    records: &[Vec<u8>],
    tree: &MerkleTree<MemoryStore>,
    s: &LogSigner,
    seq: u64,
    size: u64,
) -> ProofFile {
    let cp = Checkpoint { origin: s.name().into(), size, root: tree.root(size).unwrap() };
    ProofFile {
        record: records[seq as usize - 1].clone(),
        sequence: seq,
        tree_size: size,
        inclusion_proof: tree.inclusion_proof(seq - 1, size).unwrap(),
        checkpoint: s.sign(&cp).unwrap(),
    }
}

#[test]
fn proof_files_check_offline_and_refuse_tampering() {
    let origin = "eseal.example/log";
    let s = signer(origin, 3);
    let verifier = LogVerifier::from_verifier_key(&s.verifier_key()).unwrap();
    let (records, tree) = log_of(origin, 37);

    for (seq, size) in [(1, 1), (1, 37), (17, 37), (37, 37), (5, 20), (20, 20)] {
        let file = proof_file(&records, &tree, &s, seq, size);
        let text = file.to_json();
        let read = ProofFile::from_json(text.as_bytes()).unwrap();
        assert_eq!(read, file);
        let checked = read.check(&verifier).unwrap();
        assert_eq!(checked.record.sequence, seq);
        assert_eq!(checked.checkpoint.size, size);
        assert_eq!(
            checked.record.event.case_number.as_deref(),
            Some(format!("审批-{seq}").as_str())
        );
    }

    let good = proof_file(&records, &tree, &s, 17, 37);
    let json: Value = serde_json::from_str(&good.to_json()).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 5);
    assert_eq!(json["sequence"], 17);
    assert_eq!(json["tree_size"], 37);
    assert_eq!(base64::decode(json["record"].as_str().unwrap()).unwrap(), records[16]);

    // Each tampering is refused with its own reason.
    let check = |f: &ProofFile| f.check(&verifier);
    let mut f = good.clone();
    f.record = records[17].clone();
    assert!(matches!(check(&f), Err(AuditError::NotIncluded { .. })), "another record");
    let mut f = good.clone();
    let edited =
        String::from_utf8(f.record.clone()).unwrap().replace("approval-system", "approval-systen");
    f.record = edited.into_bytes();
    assert!(matches!(check(&f), Err(AuditError::NotIncluded { .. })), "edited record");
    let mut f = good.clone();
    f.sequence = 18;
    assert!(matches!(check(&f), Err(AuditError::NotIncluded { .. })), "another position");
    let mut f = good.clone();
    f.sequence = 0;
    assert!(matches!(check(&f), Err(AuditError::NotIncluded { .. })), "sequence 0");
    let mut f = good.clone();
    f.inclusion_proof[2][0] ^= 1;
    assert!(matches!(check(&f), Err(AuditError::NotIncluded { .. })), "altered proof");
    let mut f = good.clone();
    f.inclusion_proof.pop();
    assert!(matches!(check(&f), Err(AuditError::NotIncluded { .. })), "short proof");
    let mut f = good.clone();
    f.tree_size = 36;
    assert!(matches!(
        check(&f),
        Err(AuditError::CheckpointSizeMismatch { proof: 36, checkpoint: 37 })
    ));
    let mut f = good.clone();
    f.checkpoint = proof_file(&records, &tree, &signer(origin, 4), 17, 37).checkpoint;
    assert!(
        matches!(check(&f), Err(AuditError::NotSignedByLogKey(_))),
        "checkpoint by another key"
    );
    let mut f = good.clone();
    f.checkpoint = f.checkpoint.replacen("\n37\n", "\n36\n", 1);
    assert!(matches!(check(&f), Err(AuditError::BadSignature { .. })), "edited checkpoint");

    // A record whose own sequence field disagrees with its position: the log put a record
    // claiming sequence 9 at position 3. The proof is valid, the record is not.
    let mut liar = MerkleTree::in_memory();
    let mut bytes = records.clone();
    bytes[2] = records[8].clone();
    for b in &bytes {
        liar.append_record(b).unwrap();
    }
    let f = proof_file(&bytes, &liar, &s, 3, 37);
    assert!(matches!(check(&f), Err(AuditError::SequenceMismatch { record: 9, file: 3 })));
    // A record of another log.
    let (foreign, foreign_tree) = log_of("eseal.example/other", 5);
    let f = proof_file(&foreign, &foreign_tree, &s, 2, 5);
    assert!(matches!(check(&f), Err(AuditError::OriginMismatch { .. })));
    // Bytes that are not a record at all.
    let mut junk = MerkleTree::in_memory();
    junk.append_record(b"not json").unwrap();
    let f = proof_file(&[b"not json".to_vec()], &junk, &s, 1, 1);
    assert!(matches!(check(&f), Err(AuditError::BadRecord(_))));

    // Malformed files.
    let text = good.to_json();
    for (what, bad) in [
        ("unknown field", text.replacen('{', "{\"extra\": 1,", 1)),
        ("missing field", text.replacen("\"tree_size\": 37,", "", 1)),
        ("bad base64 record", text.replacen("\"record\": \"", "\"record\": \"*", 1)),
        ("short hash", {
            let first = json["inclusion_proof"][0].as_str().unwrap();
            text.replacen(first, "AAAA", 1)
        }),
        ("negative sequence", text.replacen("\"sequence\": 17", "\"sequence\": -17", 1)),
        ("not JSON", "{".to_string()),
    ] {
        assert!(
            matches!(ProofFile::from_json(bad.as_bytes()), Err(AuditError::MalformedProofFile(_))),
            "{what} accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Performance sanity (the measured benchmark lives elsewhere): a million appends and random
// proofs on the in-memory store, with timings printed.

#[test]
fn a_million_appends_and_random_proofs() {
    const N: u64 = 1_000_000;
    let mut tree = MerkleTree::in_memory();
    let start = Instant::now();
    for i in 0..N {
        tree.append_record(&i.to_le_bytes()).unwrap();
    }
    let appends = start.elapsed();
    let root = tree.current_root().unwrap();

    let mut rng = Rng(42);
    const PROOFS: u64 = 100_000;
    let start = Instant::now();
    let mut proofs = Vec::with_capacity(PROOFS as usize);
    for _ in 0..PROOFS {
        let index = rng.below(N);
        proofs.push((index, tree.inclusion_proof(index, N).unwrap()));
    }
    let proving = start.elapsed();
    let start = Instant::now();
    for (index, proof) in &proofs {
        assert!(
            verify_inclusion(&leaf_hash(&index.to_le_bytes()), *index, N, proof, &root),
            "leaf {index}"
        );
    }
    let verifying = start.elapsed();

    let start = Instant::now();
    for _ in 0..10_000 {
        let second = 1 + rng.below(N);
        let first = 1 + rng.below(second);
        let proof = tree.consistency_proof(first, second).unwrap();
        assert!(verify_consistency(
            first,
            second,
            &tree.root(first).unwrap(),
            &tree.root(second).unwrap(),
            &proof
        ));
    }
    let consistency = start.elapsed();
    println!(
        "in-memory tree, {} build: {N} appends {:?} ({:.0}/s); {PROOFS} inclusion proofs {:?} ({:.1} us each), verified in {:?}; \
         10000 consistency proofs with both roots, generated and verified, {:?}",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        appends,
        N as f64 / appends.as_secs_f64(),
        proving,
        proving.as_secs_f64() * 1e6 / PROOFS as f64,
        verifying,
        consistency,
    );
}
