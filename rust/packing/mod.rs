//! Sequence packing (BFD/FFD/wrapped) and workload balancing across ranks.
//!
//! Packing puts sequences of given lengths into bins of `capacity` tokens
//! (one bin = one padding-free micro-batch row). The result is a list of
//! *pieces* `(seq, offset, len)` grouped by bin: a whole sequence is one piece
//! with offset 0; `Overflow::Split` and `Strategy::Wrapped` cut sequences into
//! several pieces.
//!
//! - Best-fit decreasing (BFD): items longest first (a stable counting sort,
//!   ties by index), each into the open bin with the least room that still
//!   fits, else a new bin. Bins are kept in buckets by remaining room with a
//!   two-level bitset over room values, so "smallest room >= len" is a couple
//!   of word scans: O(n + capacity) overall. (TRL's `_pack_bfd` does the same
//!   with a segment tree in Python.) Which of several bins with the *same*
//!   room gets the item cannot change any later decision (bins are only
//!   distinguished by their room), so the bin count equals any other BFD's.
//! - First-fit decreasing (FFD): the lowest-numbered bin that fits, found with
//!   a max segment tree over the bins' room: O(n log bins).
//! - Wrapped: sequences laid end to end in order and cut every `capacity`
//!   tokens (TRL's "wrapped"), so every bin but the last is full.
//!
//! Balancing (`balance`) splits workloads into `k` partitions of near-equal
//! sums: Karmarkar-Karp largest differencing (the k-way generalisation used
//! by verl's `seqlen_balancing.py`) or greedy longest-processing-time.
//!
//! Files: `bins.rs` (packing), `balance.rs` (partitions across ranks),
//! `collate.rs` (model inputs for each bin).

mod balance;
mod bins;
mod collate;

pub use balance::{balance, BalanceMethod};
pub use bins::{pack, Overflow, Packed, Strategy};
pub use collate::{collate, Collated};
