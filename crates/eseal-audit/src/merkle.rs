//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0) section 2.1, with its inclusion
//! and consistency proofs.
//!
//! Hashing: a leaf is `SHA-256(0x00 || record bytes)`, an interior node
//! `SHA-256(0x01 || left || right)`, and the tree of no leaves has the root `SHA-256("")`.
//!
//! # Storage: perfect subtrees
//!
//! The tree keeps its hashes in a [`HashStore`]. Node `(level, index)` is the root of the
//! perfect subtree over leaves `[index * 2^level, (index + 1) * 2^level)`; level 0 holds the
//! leaf hashes. Only complete subtrees are stored, and a stored node never changes, so the
//! store is append-only.
//!
//! - Appending leaf `i` (the tree grows to `n = i + 1`) writes `(0, i)` and then, for every
//!   `k` in `1..=trailing_zeros(n)`, the node `(k, i >> k)`, which just became complete; it
//!   reads the left siblings `(k - 1, (i >> (k - 1)) - 1)`. That is at most 64 writes and
//!   reads, one write and one read on average ([`append_nodes`] lists them).
//! - The root of any size `s` combines the perfect subtrees of the binary decomposition of
//!   `s` (one per set bit, largest first): at most 64 reads.
//! - An inclusion or consistency proof reads `O(log n)` nodes: every sibling on the path is a
//!   perfect subtree (one read), except at most one right-hand sibling on the tree's ragged
//!   right edge, which is combined from `O(log n)` perfect subtrees.
//!
//! The tree's size is not in the store: a persistent store keeps it beside (the number of
//! leaves) and reopens the tree with [`MerkleTree::open`].
//!
//! A store that cannot answer reads synchronously (an async database) can instead ask which
//! nodes an operation reads ([`nodes_for_root`], [`nodes_for_inclusion_proof`],
//! [`nodes_for_consistency_proof`], [`nodes_for_append`]), fetch them in one query into a
//! [`NodeMap`], and run the operation on [`MerkleTree::assume_size`] over that map.

use std::cell::RefCell;
use std::collections::HashMap;

use ring::digest::{Context, SHA256};

use super::AuditError;

/// A SHA-256 hash: a leaf, an interior node or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree: `SHA-256("")`.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of a record: `SHA-256(0x00 || record bytes)`.
pub fn leaf_hash(record: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x00]);
    ctx.update(record);
    finish(ctx)
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    finish(ctx)
}

fn finish(ctx: Context) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Where a [`MerkleTree`] keeps its complete subtrees (see the module documentation for the
/// layout). An implementation only stores and returns hashes; it never computes any.
pub trait HashStore {
    /// The hash of the perfect subtree `(level, index)`, if stored.
    fn get(&self, level: u8, index: u64) -> Option<Hash>;
    /// Stores the hash of the perfect subtree `(level, index)`. The tree writes each node
    /// once, when it becomes complete, in order of leaves.
    fn put(&mut self, level: u8, index: u64, hash: Hash);
}

/// A [`HashStore`] in memory: one vector per level.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    levels: Vec<Vec<Option<Hash>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// The number of nodes stored at `level`.
    pub fn level_len(&self, level: u8) -> u64 {
        self.levels.get(usize::from(level)).map_or(0, |l| l.len() as u64)
    }
}

impl HashStore for MemoryStore {
    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        let level = self.levels.get(usize::from(level))?;
        usize::try_from(index).ok().and_then(|i| level.get(i)).copied().flatten()
    }

    fn put(&mut self, level: u8, index: u64, hash: Hash) {
        let Ok(index) = usize::try_from(index) else { return };
        let level = usize::from(level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        let nodes = &mut self.levels[level];
        if nodes.len() <= index {
            nodes.resize(index + 1, None);
        }
        nodes[index] = Some(hash);
    }
}

impl<S: HashStore + ?Sized> HashStore for &mut S {
    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        (**self).get(level, index)
    }

    fn put(&mut self, level: u8, index: u64, hash: Hash) {
        (**self).put(level, index, hash)
    }
}

/// A [`HashStore`] holding any set of nodes, for example the few an operation needs, fetched
/// from a database in one query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeMap {
    nodes: HashMap<(u8, u64), Hash>,
}

impl NodeMap {
    /// An empty map.
    pub fn new() -> Self {
        NodeMap::default()
    }

    /// The number of nodes held.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is held.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl FromIterator<((u8, u64), Hash)> for NodeMap {
    fn from_iter<I: IntoIterator<Item = ((u8, u64), Hash)>>(iter: I) -> Self {
        NodeMap { nodes: iter.into_iter().collect() }
    }
}

impl HashStore for NodeMap {
    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        self.nodes.get(&(level, index)).copied()
    }

    fn put(&mut self, level: u8, index: u64, hash: Hash) {
        self.nodes.insert((level, index), hash);
    }
}

/// A store that answers every read with a dummy hash and records which node was read.
#[derive(Default)]
struct ReadRecorder {
    reads: RefCell<Vec<(u8, u64)>>,
}

impl HashStore for ReadRecorder {
    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        let mut reads = self.reads.borrow_mut();
        if !reads.contains(&(level, index)) {
            reads.push((level, index));
        }
        Some([0; 32])
    }

    fn put(&mut self, _level: u8, _index: u64, _hash: Hash) {}
}

/// Runs `op` on a tree of `size` leaves that records its reads, and returns them.
fn recorded_reads<T>(
    size: u64,
    op: impl FnOnce(&mut MerkleTree<ReadRecorder>) -> Result<T, AuditError>,
) -> Result<Vec<(u8, u64)>, AuditError> {
    let mut tree = MerkleTree { store: ReadRecorder::default(), size };
    op(&mut tree)?;
    Ok(tree.store.reads.into_inner())
}

/// The stored nodes, as `(level, index)`, that [`MerkleTree::root`] of `size` reads: one per
/// set bit of `size`.
pub fn nodes_for_root(size: u64) -> Vec<(u8, u64)> {
    recorded_reads(size, |t| t.root(size)).unwrap_or_default()
}

/// The stored nodes that [`MerkleTree::inclusion_proof`] of leaf `index` in the tree at `size`
/// reads (at most about 2 log2(size)).
pub fn nodes_for_inclusion_proof(index: u64, size: u64) -> Result<Vec<(u8, u64)>, AuditError> {
    recorded_reads(size, |t| t.inclusion_proof(index, size))
}

/// The stored nodes that [`MerkleTree::consistency_proof`] from `first` to `second` reads.
pub fn nodes_for_consistency_proof(first: u64, second: u64) -> Result<Vec<(u8, u64)>, AuditError> {
    recorded_reads(second, |t| t.consistency_proof(first, second))
}

/// The stored nodes that appending leaf `leaf_index` (from 0) reads: the left siblings of the
/// subtrees it completes, `(k, (leaf_index >> k) - 1)` for each trailing one bit `k` of
/// `leaf_index`. They are the tree's right frontier, which a store may also keep in memory.
pub fn nodes_for_append(leaf_index: u64) -> Vec<(u8, u64)> {
    recorded_reads(leaf_index, |t| t.append([0; 32])).unwrap_or_default()
}

/// The nodes that appending leaf `leaf_index` (from 0) writes, as `(level, index)`, in the
/// order the tree writes them: the leaf `(0, leaf_index)` first, then every subtree the leaf
/// completes. A persistent store must keep exactly these for the append to be durable.
pub fn append_nodes(leaf_index: u64) -> impl Iterator<Item = (u8, u64)> {
    // Leaf i completes one subtree per trailing one bit of i.
    let completed = leaf_index.trailing_ones() as u8;
    (0..=completed).map(move |level| (level, leaf_index >> level))
}

/// The largest power of two strictly below `n` (n >= 2): the RFC 9162 split point `k`.
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// An append-only RFC 9162 Merkle tree over a [`HashStore`].
#[derive(Clone, Debug)]
pub struct MerkleTree<S: HashStore> {
    store: S,
    size: u64,
}

impl MerkleTree<MemoryStore> {
    /// An empty tree in memory.
    pub fn in_memory() -> Self {
        MerkleTree { store: MemoryStore::new(), size: 0 }
    }
}

impl<S: HashStore> MerkleTree<S> {
    /// An empty tree over an empty store.
    pub fn new(store: S) -> Self {
        MerkleTree { store, size: 0 }
    }

    /// Reopens a tree of `size` leaves whose nodes `store` holds. Fails when the store lacks
    /// the last leaf or a subtree the root needs (a store that is shorter than `size`).
    pub fn open(store: S, size: u64) -> Result<Self, AuditError> {
        let tree = MerkleTree { store, size };
        if size > 0 {
            tree.node(0, size - 1)?;
            tree.root(size)?;
        }
        Ok(tree)
    }

    /// A tree of `size` leaves over `store` without checking that the store holds them: for a
    /// store that holds only the nodes one operation needs (a [`NodeMap`] filled from the
    /// `nodes_for_*` lists). A node the store lacks is a [`AuditError::MissingNode`] error.
    pub fn assume_size(store: S, size: u64) -> Self {
        MerkleTree { store, size }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    fn node(&self, level: u8, index: u64) -> Result<Hash, AuditError> {
        self.store.get(level, index).ok_or(AuditError::MissingNode { level, index })
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and returns the new size. Writes the nodes
    /// [`append_nodes`] lists.
    pub fn append(&mut self, leaf: Hash) -> Result<u64, AuditError> {
        let index = self.size;
        if index == u64::MAX {
            return Err(AuditError::TreeFull);
        }
        // Read the left siblings first so that a damaged store changes nothing.
        let completed = index.trailing_ones() as u8;
        let mut hash = leaf;
        let mut writes = Vec::with_capacity(usize::from(completed) + 1);
        writes.push((0u8, index, hash));
        for level in 0..completed {
            let left = self.node(level, (index >> level) - 1)?;
            hash = node_hash(&left, &hash);
            writes.push((level + 1, index >> (level + 1), hash));
        }
        for (level, i, h) in writes {
            self.store.put(level, i, h);
        }
        self.size = index + 1;
        Ok(self.size)
    }

    /// Appends the leaf hash of `record` and returns the new size.
    pub fn append_record(&mut self, record: &[u8]) -> Result<u64, AuditError> {
        self.append(leaf_hash(record))
    }

    /// The leaf hash at `index` (from 0).
    pub fn leaf(&self, index: u64) -> Result<Hash, AuditError> {
        if index >= self.size {
            return Err(AuditError::IndexOutOfRange { index, size: self.size });
        }
        self.node(0, index)
    }

    /// The hash of leaves `[start, start + width)`, a node of the RFC 9162 recursion: `start`
    /// is a multiple of the smallest power of two not below `width`, so the range splits into
    /// aligned perfect subtrees, one per set bit of `width`, largest first.
    fn range_hash(&self, start: u64, width: u64) -> Result<Hash, AuditError> {
        if width == 0 {
            return Ok(EMPTY_ROOT);
        }
        // Perfect subtrees from the right end leftwards: the smallest first.
        let mut end = start + width;
        let mut acc: Option<Hash> = None;
        let mut remaining = width;
        while remaining > 0 {
            let level = remaining.trailing_zeros() as u8;
            let block = 1u64 << level;
            end -= block;
            let hash = self.node(level, end >> level)?;
            acc = Some(match acc {
                None => hash,
                Some(right) => node_hash(&hash, &right),
            });
            remaining -= block;
        }
        Ok(acc.unwrap_or(EMPTY_ROOT))
    }

    /// The root of the tree at `size` (any size up to the current one; 0 gives
    /// [`EMPTY_ROOT`]). Reads one stored node per set bit of `size`.
    pub fn root(&self, size: u64) -> Result<Hash, AuditError> {
        if size > self.size {
            return Err(AuditError::SizeOutOfRange { requested: size, current: self.size });
        }
        self.range_hash(0, size)
    }

    /// The root of the whole tree.
    pub fn current_root(&self) -> Result<Hash, AuditError> {
        self.root(self.size)
    }

    /// The RFC 9162 section 2.1.3.1 inclusion proof (`PATH(m, D[n])`) of leaf `index` (from 0)
    /// in the tree at `size`: sibling hashes from the leaf upwards.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        if size > self.size {
            return Err(AuditError::SizeOutOfRange { requested: size, current: self.size });
        }
        if index >= size {
            return Err(AuditError::IndexOutOfRange { index, size });
        }
        let mut path = Vec::with_capacity(64);
        let (mut start, mut width) = (0u64, size);
        while width > 1 {
            let k = split(width);
            if index - start < k {
                // PATH(m, D[0:k]) : MTH(D[k:n])
                path.push(self.range_hash(start + k, width - k)?);
                width = k;
            } else {
                // PATH(m - k, D[k:n]) : MTH(D[0:k])
                path.push(self.range_hash(start, k)?);
                start += k;
                width -= k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// The RFC 9162 section 2.1.4.1 consistency proof (`PROOF(m, D[n])`) that the tree at
    /// `first` is a prefix of the tree at `second`. Needs `0 < first <= second <= size`; equal
    /// sizes give the empty proof.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, AuditError> {
        if second > self.size {
            return Err(AuditError::SizeOutOfRange { requested: second, current: self.size });
        }
        if first == 0 || first > second {
            return Err(AuditError::InvalidSizes { first, second });
        }
        let mut proof = Vec::with_capacity(64);
        let (mut start, mut m, mut n) = (0u64, first, second);
        // b of SUBPROOF: whether the subtree is still the one whose root the verifier knows.
        let mut known_root = true;
        while m != n {
            let k = split(n);
            if m <= k {
                // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
                proof.push(self.range_hash(start + k, n - k)?);
                n = k;
            } else {
                // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
                proof.push(self.range_hash(start, k)?);
                start += k;
                m -= k;
                n -= k;
                known_root = false;
            }
        }
        if !known_root {
            // SUBPROOF(m, D[m], false) = {MTH(D[m])}
            proof.push(self.range_hash(start, m)?);
        }
        proof.reverse();
        Ok(proof)
    }
}

/// Verifies an RFC 9162 inclusion proof (the algorithm of section 2.1.3.2): that `leaf` is
/// leaf `index` (from 0) of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    root_from_inclusion_proof(leaf, index, size, proof).is_some_and(|r| &r == root)
}

/// The root that an inclusion proof leads to from `leaf` at `index` in a tree of `size`, or
/// `None` when the proof cannot be for that position (wrong length, index not below size).
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// Verifies an RFC 9162 consistency proof (the algorithm of section 2.1.4.2): that the tree
/// of `first` leaves with root `first_root` is a prefix of the tree of `second` leaves with
/// root `second_root`.
///
/// Edge cases: `first > second` fails; `first == second` holds only with an empty proof and
/// equal roots; `first == 0` holds only with an empty proof and `first_root` the empty root.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty() && first_root == &EMPTY_ROOT;
    }
    // 1. An empty proof fails (0 < first < second).
    if proof.is_empty() {
        return false;
    }
    // 2. If first is an exact power of 2, the path starts with first_hash.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(first_root);
    }
    path.extend(proof.iter());
    // 3-4.
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    let mut fr = *path[0];
    let mut sr = *path[0];
    // 6.
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7.
    &fr == first_root && &sr == second_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(n: u64) -> MerkleTree<MemoryStore> {
        let mut tree = MerkleTree::in_memory();
        for i in 0..n {
            tree.append_record(&i.to_be_bytes()).unwrap();
        }
        tree
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT.as_ref(), ring::digest::digest(&SHA256, b"").as_ref());
        assert_eq!(MerkleTree::in_memory().current_root().unwrap(), EMPTY_ROOT);
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(8), 4);
        assert_eq!(split(9), 8);
        assert_eq!(split(u64::MAX), 1 << 63);
    }

    #[test]
    fn append_writes_exactly_the_listed_nodes() {
        #[derive(Default)]
        struct Recorder(MemoryStore, Vec<(u8, u64)>);
        impl HashStore for Recorder {
            fn get(&self, level: u8, index: u64) -> Option<Hash> {
                self.0.get(level, index)
            }
            fn put(&mut self, level: u8, index: u64, hash: Hash) {
                self.1.push((level, index));
                self.0.put(level, index, hash)
            }
        }
        let mut tree = MerkleTree::new(Recorder::default());
        for i in 0..100u64 {
            let before = tree.store.1.len();
            tree.append_record(&i.to_le_bytes()).unwrap();
            let written: Vec<_> = tree.store.1[before..].to_vec();
            assert_eq!(written, append_nodes(i).collect::<Vec<_>>(), "leaf {i}");
        }
        // Leaf 7 (size 8) completes (1,3), (2,1) and (3,0).
        assert_eq!(append_nodes(7).collect::<Vec<_>>(), vec![(0, 7), (1, 3), (2, 1), (3, 0)]);
        assert_eq!(append_nodes(4).collect::<Vec<_>>(), vec![(0, 4)]);
    }

    #[test]
    fn listed_nodes_suffice_for_each_operation() {
        let full = tree_of(1000);
        let fetch = |nodes: Vec<(u8, u64)>| -> NodeMap {
            nodes.into_iter().map(|(l, i)| ((l, i), full.store().get(l, i).unwrap())).collect()
        };
        for size in [1u64, 2, 3, 5, 8, 13, 64, 100, 511, 512, 513, 999, 1000] {
            let root_nodes = nodes_for_root(size);
            assert_eq!(root_nodes.len() as u32, size.count_ones());
            assert_eq!(
                MerkleTree::assume_size(fetch(root_nodes), size).root(size),
                full.root(size)
            );
            for index in [0, size / 3, size / 2, size - 1] {
                let nodes = nodes_for_inclusion_proof(index, size).unwrap();
                let partial = MerkleTree::assume_size(fetch(nodes), size);
                assert_eq!(
                    partial.inclusion_proof(index, size),
                    full.inclusion_proof(index, size),
                    "({index}, {size})"
                );
            }
            for first in [1, size / 2, size - 1, size] {
                let first = first.max(1);
                let nodes = nodes_for_consistency_proof(first, size).unwrap();
                let partial = MerkleTree::assume_size(fetch(nodes), size);
                assert_eq!(
                    partial.consistency_proof(first, size),
                    full.consistency_proof(first, size),
                    "({first}, {size})"
                );
            }
            // Appending leaf `size` needs only the listed frontier.
            let mut partial = MerkleTree::assume_size(fetch(nodes_for_append(size)), size);
            let mut grown = tree_of(size);
            let leaf = leaf_hash(b"next");
            partial.append(leaf).unwrap();
            grown.append(leaf).unwrap();
            for (level, index) in append_nodes(size) {
                assert_eq!(partial.store().get(level, index), grown.store().get(level, index));
            }
        }
        assert_eq!(nodes_for_append(7), vec![(0, 6), (1, 2), (2, 0)]);
        assert!(nodes_for_append(8).is_empty());
        assert!(nodes_for_inclusion_proof(5, 5).is_err());
        assert!(nodes_for_consistency_proof(0, 5).is_err());
        assert!(nodes_for_root(0).is_empty());
        // A missing node is an error, not a wrong proof.
        let empty = MerkleTree::assume_size(NodeMap::new(), 10);
        assert!(matches!(empty.inclusion_proof(3, 10), Err(AuditError::MissingNode { .. })));
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        let tree = tree_of(5);
        assert!(matches!(
            tree.root(6),
            Err(AuditError::SizeOutOfRange { requested: 6, current: 5 })
        ));
        assert!(matches!(tree.inclusion_proof(5, 5), Err(AuditError::IndexOutOfRange { .. })));
        assert!(matches!(tree.inclusion_proof(0, 0), Err(AuditError::IndexOutOfRange { .. })));
        assert!(matches!(tree.inclusion_proof(0, 6), Err(AuditError::SizeOutOfRange { .. })));
        assert!(matches!(
            tree.inclusion_proof(u64::MAX, 5),
            Err(AuditError::IndexOutOfRange { .. })
        ));
        assert!(matches!(tree.consistency_proof(0, 3), Err(AuditError::InvalidSizes { .. })));
        assert!(matches!(tree.consistency_proof(4, 3), Err(AuditError::InvalidSizes { .. })));
        assert!(matches!(tree.consistency_proof(3, 6), Err(AuditError::SizeOutOfRange { .. })));
        assert!(matches!(tree.leaf(5), Err(AuditError::IndexOutOfRange { .. })));
        let h = [7u8; 32];
        assert!(!verify_inclusion(&h, 0, 0, &[], &h));
        assert!(!verify_inclusion(&h, 3, 2, &[h], &h));
        assert!(!verify_inclusion(&h, u64::MAX, u64::MAX, &[h; 70], &h));
        assert!(!verify_consistency(3, 2, &h, &h, &[]));
        assert!(!verify_consistency(u64::MAX - 1, u64::MAX, &h, &h, &[h; 130]));
        assert!(!verify_consistency(1, 2, &h, &h, &[]));
    }

    #[test]
    fn open_checks_the_store_holds_the_size() {
        let tree = tree_of(13);
        let root = tree.current_root().unwrap();
        let store = tree.into_store();
        let reopened = MerkleTree::open(store.clone(), 13).unwrap();
        assert_eq!(reopened.current_root().unwrap(), root);
        assert!(matches!(
            MerkleTree::open(store.clone(), 14),
            Err(AuditError::MissingNode { level: 0, index: 13 })
        ));
        // A store missing an interior node is reported, not trusted.
        let mut damaged = MemoryStore::new();
        for i in 0..13u64 {
            damaged.put(0, i, store.get(0, i).unwrap());
        }
        assert!(matches!(
            MerkleTree::open(damaged, 13),
            Err(AuditError::MissingNode { level: 2, index: 2 })
        ));
    }

    #[test]
    fn append_on_a_damaged_store_fails_without_writing() {
        let mut store = MemoryStore::new();
        store.put(0, 0, [1; 32]);
        store.put(0, 1, [2; 32]);
        store.put(0, 2, [3; 32]);
        // (1, 0) is missing: appending leaf 3 needs (0, 2) and (1, 0).
        let mut tree = MerkleTree { store, size: 3 };
        assert!(matches!(
            tree.append([4; 32]),
            Err(AuditError::MissingNode { level: 1, index: 0 })
        ));
        assert_eq!(tree.size(), 3);
        assert_eq!(tree.store().level_len(0), 3);
    }
}
