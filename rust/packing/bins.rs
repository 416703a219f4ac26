//! Packing sequences into bins of `capacity` tokens: best-fit decreasing
//! (bucketed rooms), first-fit decreasing (segment tree), wrapped.

use crate::error::named_enum;
use crate::{Error, Result};
use std::cmp::Reverse;

named_enum! {
    pub enum Strategy for "strategy" {
        Bfd = "bfd",
        Ffd = "ffd",
        Wrapped = "wrapped",
    }
}

named_enum! {
    pub enum Overflow for "overflow" {
        Error = "error",
        Truncate = "truncate",
        Split = "split",
    }
}

/// Pieces grouped by bin: bin `b` holds pieces `bin_ptr[b]..bin_ptr[b + 1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packed {
    pub bin_ptr: Vec<i64>,
    pub seq: Vec<i64>,
    pub offset: Vec<i64>,
    pub len: Vec<i64>,
}

impl Packed {
    pub fn num_bins(&self) -> usize {
        self.bin_ptr.len().saturating_sub(1)
    }
}

/// Largest capacity for the bucketed BFD (memory is O(capacity)); above it a
/// BTreeSet over (room, bin) is used instead.
const BUCKET_MAX_CAPACITY: i64 = 1 << 24;

/// Pack `lengths` into bins of `capacity` tokens.
pub fn pack(
    lengths: &[i64],
    capacity: i64,
    strategy: Strategy,
    overflow: Overflow,
) -> Result<Packed> {
    if capacity <= 0 {
        return Err(Error::value(
            "capacity",
            format!("must be > 0, got {capacity}"),
        ));
    }
    if let Some(i) = lengths.iter().position(|&l| l < 0) {
        return Err(Error::value(
            "lengths",
            format!("must be >= 0, got {} at index {i}", lengths[i]),
        ));
    }
    if lengths.len() > u32::MAX as usize {
        return Err(Error::value("lengths", "more than 2^32 - 1 sequences"));
    }
    if strategy == Strategy::Wrapped {
        return Ok(wrapped(lengths, capacity));
    }
    // items: (seq, offset, len), every len <= capacity
    let mut items: Vec<(u32, i64, i64)> = Vec::with_capacity(lengths.len());
    let mut full: Vec<(u32, i64)> = Vec::new(); // split: full-capacity pieces, one bin each
    for (i, &l) in lengths.iter().enumerate() {
        if l <= capacity {
            items.push((i as u32, 0, l));
            continue;
        }
        match overflow {
            Overflow::Error => {
                return Err(Error::value(
                    "lengths",
                    format!(
                        "sequence {i} has {l} tokens, more than capacity {capacity} \
                         (use overflow='truncate' or 'split')"
                    ),
                ))
            }
            Overflow::Truncate => items.push((i as u32, 0, capacity)),
            Overflow::Split => {
                let whole = l / capacity;
                for c in 0..whole {
                    full.push((i as u32, c * capacity));
                }
                if l % capacity > 0 {
                    items.push((i as u32, whole * capacity, l % capacity));
                }
            }
        }
    }
    let (order, sorted_len) = sort_desc(&items, capacity);
    let n = items.len();
    let assign = match strategy {
        Strategy::Bfd if capacity <= BUCKET_MAX_CAPACITY => {
            bfd_buckets(n, &order, &sorted_len, capacity)
        }
        Strategy::Bfd => bfd_btree(n, &order, &sorted_len, capacity),
        _ => ffd(n, &order, &sorted_len, capacity),
    };
    drop(order);
    // group by bin, full split pieces first as their own bins
    let nb = assign.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut count = vec![0i64; nb];
    for &b in &assign {
        count[b as usize] += 1;
    }
    let mut out = Packed {
        bin_ptr: Vec::with_capacity(full.len() + nb + 1),
        seq: Vec::with_capacity(full.len() + items.len()),
        offset: Vec::with_capacity(full.len() + items.len()),
        len: Vec::with_capacity(full.len() + items.len()),
    };
    out.bin_ptr.push(0);
    for &(s, off) in &full {
        out.seq.push(s as i64);
        out.offset.push(off);
        out.len.push(capacity);
        out.bin_ptr.push(out.seq.len() as i64);
    }
    let base = out.seq.len();
    let mut start = vec![0usize; nb + 1];
    for b in 0..nb {
        start[b + 1] = start[b] + count[b] as usize;
        out.bin_ptr.push((base + start[b + 1]) as i64);
    }
    let total = items.len();
    out.seq.resize(base + total, 0);
    out.offset.resize(base + total, 0);
    out.len.resize(base + total, 0);
    // pieces within a bin in item order (sequential reads; see sort_desc)
    for (k, &(s, off, l)) in items.iter().enumerate() {
        let b = assign[k] as usize;
        let at = base + start[b];
        start[b] += 1;
        out.seq[at] = s as i64;
        out.offset[at] = off;
        out.len[at] = l;
    }
    Ok(out)
}

/// Item indices by length descending, ties by index (stable counting sort when
/// the capacity is small, else a stable comparison sort), and the lengths in
/// that order. The packers read `sorted_len` sequentially: reading
/// `items[order[j]]` instead was a cache miss per item and 58% of BFD's time
/// on 1M items (perf).
fn sort_desc(items: &[(u32, i64, i64)], capacity: i64) -> (Vec<u32>, Vec<i64>) {
    let n = items.len();
    if capacity <= BUCKET_MAX_CAPACITY && (capacity as usize) <= 4 * n.max(1024) {
        let c = capacity as usize;
        let mut cnt = vec![0u32; c + 2];
        for it in items {
            cnt[c - it.2 as usize + 1] += 1;
        }
        for i in 1..cnt.len() {
            cnt[i] += cnt[i - 1];
        }
        let mut out = vec![0u32; n];
        // lengths in order straight from the counts: a run of each length
        let mut sorted_len = Vec::with_capacity(n);
        for v in (0..=c).rev() {
            let run = cnt[c - v + 1] - cnt[c - v];
            sorted_len.extend(std::iter::repeat_n(v as i64, run as usize));
        }
        for (k, it) in items.iter().enumerate() {
            let slot = &mut cnt[c - it.2 as usize];
            out[*slot as usize] = k as u32;
            *slot += 1;
        }
        (out, sorted_len)
    } else {
        let mut out: Vec<u32> = (0..n as u32).collect();
        out.sort_by_key(|&k| Reverse(items[k as usize].2));
        let sorted_len = out.iter().map(|&k| items[k as usize].2).collect();
        (out, sorted_len)
    }
}

/// Two-level bitset over room values 0..=capacity: which rooms have an open bin.
struct RoomSet {
    lo: Vec<u64>,
    hi: Vec<u64>,
}

impl RoomSet {
    fn new(capacity: usize) -> Self {
        let nlo = capacity / 64 + 1;
        Self {
            lo: vec![0; nlo],
            hi: vec![0; nlo / 64 + 1],
        }
    }
    fn set(&mut self, v: usize) {
        self.lo[v / 64] |= 1 << (v % 64);
        self.hi[v / 4096] |= 1 << ((v / 64) % 64);
    }
    fn clear(&mut self, v: usize) {
        self.lo[v / 64] &= !(1 << (v % 64));
        if self.lo[v / 64] == 0 {
            self.hi[v / 4096] &= !(1 << ((v / 64) % 64));
        }
    }
    /// Smallest set value >= v.
    fn next(&self, v: usize) -> Option<usize> {
        let w = v / 64;
        if w >= self.lo.len() {
            return None;
        }
        let m = self.lo[w] & (!0u64 << (v % 64));
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        // next non-empty lo word after w, via hi
        let w1 = w + 1;
        let mut h = w1 / 64;
        if h >= self.hi.len() {
            return None;
        }
        let mut mh = if w1 % 64 == 0 && w1 / 64 == h {
            self.hi[h]
        } else {
            self.hi[h] & (!0u64 << (w1 % 64))
        };
        loop {
            if mh != 0 {
                let lw = h * 64 + mh.trailing_zeros() as usize;
                return Some(lw * 64 + self.lo[lw].trailing_zeros() as usize);
            }
            h += 1;
            if h >= self.hi.len() {
                return None;
            }
            mh = self.hi[h];
        }
    }
}

fn bfd_buckets(n: usize, order: &[u32], sorted_len: &[i64], capacity: i64) -> Vec<u32> {
    let c = capacity as usize;
    let mut rooms = RoomSet::new(c);
    // bins with room r: a stack (the most recently touched first)
    let mut bucket: Vec<Vec<u32>> = vec![Vec::new(); c + 1];
    let mut assign = vec![0u32; n];
    let mut nbins = 0u32;
    for (&k, &l) in order.iter().zip(sorted_len) {
        let l = l as usize;
        let (bin, room) = match rooms.next(l) {
            Some(r) => {
                let b = bucket[r].pop().expect("bitset and buckets agree");
                if bucket[r].is_empty() {
                    rooms.clear(r);
                }
                (b, r)
            }
            None => {
                nbins += 1;
                (nbins - 1, c)
            }
        };
        assign[k as usize] = bin;
        // full bins (room 0) are kept too: zero-length items still fit there
        let left = room - l;
        bucket[left].push(bin);
        rooms.set(left);
    }
    assign
}

fn bfd_btree(n: usize, order: &[u32], sorted_len: &[i64], capacity: i64) -> Vec<u32> {
    use std::collections::BTreeSet;
    let mut open: BTreeSet<(i64, u32)> = BTreeSet::new();
    let mut assign = vec![0u32; n];
    let mut nbins = 0u32;
    for (&k, &l) in order.iter().zip(sorted_len) {
        let (bin, room) = match open.range((l, 0)..).next().copied() {
            Some((r, b)) => {
                open.remove(&(r, b));
                (b, r)
            }
            None => {
                nbins += 1;
                (nbins - 1, capacity)
            }
        };
        assign[k as usize] = bin;
        open.insert((room - l, bin));
    }
    assign
}

/// First-fit decreasing with a max segment tree over the bins' room.
fn ffd(n: usize, order: &[u32], sorted_len: &[i64], capacity: i64) -> Vec<u32> {
    let size = n.max(1).next_power_of_two();
    // tree[1] is the root; leaves size..2*size are bins (room; unused bins = capacity)
    let mut tree = vec![capacity; 2 * size];
    let mut assign = vec![0u32; n];
    let mut used = 0usize;
    for (&k, &l) in order.iter().zip(sorted_len) {
        // leftmost leaf with room >= l (always exists: unused bins have full room)
        let mut node = 1;
        while node < size {
            node = if tree[2 * node] >= l {
                2 * node
            } else {
                2 * node + 1
            };
        }
        let bin = node - size;
        used = used.max(bin + 1);
        assign[k as usize] = bin as u32;
        tree[node] -= l;
        let mut p = node / 2;
        while p >= 1 {
            tree[p] = tree[2 * p].max(tree[2 * p + 1]);
            p /= 2;
        }
    }
    let _ = used;
    assign
}

fn wrapped(lengths: &[i64], capacity: i64) -> Packed {
    let mut out = Packed {
        bin_ptr: vec![0],
        ..Default::default()
    };
    let mut room = capacity;
    for (i, &l) in lengths.iter().enumerate() {
        let mut off = 0;
        while off < l {
            let take = (l - off).min(room);
            out.seq.push(i as i64);
            out.offset.push(off);
            out.len.push(take);
            off += take;
            room -= take;
            if room == 0 {
                out.bin_ptr.push(out.seq.len() as i64);
                room = capacity;
            }
        }
    }
    if room < capacity {
        out.bin_ptr.push(out.seq.len() as i64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop, prop_assert, prop_assert_eq, proptest, ProptestConfig};

    pub(crate) fn bins_of(p: &Packed) -> Vec<Vec<(i64, i64, i64)>> {
        (0..p.num_bins())
            .map(|b| {
                (p.bin_ptr[b] as usize..p.bin_ptr[b + 1] as usize)
                    .map(|j| (p.seq[j], p.offset[j], p.len[j]))
                    .collect()
            })
            .collect()
    }

    /// O(n * bins) reference: best fit (least room that fits) or first fit.
    fn naive(lengths: &[i64], cap: i64, best: bool) -> usize {
        let mut idx: Vec<usize> = (0..lengths.len()).collect();
        idx.sort_by_key(|&i| (Reverse(lengths[i]), i));
        let mut rooms: Vec<i64> = Vec::new();
        for i in idx {
            let l = lengths[i];
            let pick = if best {
                rooms
                    .iter()
                    .enumerate()
                    .filter(|(_, &r)| r >= l)
                    .min_by_key(|(b, &r)| (r, *b))
                    .map(|(b, _)| b)
            } else {
                rooms.iter().position(|&r| r >= l)
            };
            match pick {
                Some(b) => rooms[b] -= l,
                None => rooms.push(cap - l),
            }
        }
        rooms.len()
    }

    #[test]
    fn small_example() {
        let p = pack(&[5, 3, 4, 2, 6], 10, Strategy::Bfd, Overflow::Error).unwrap();
        assert_eq!(p.num_bins(), 2);
        let p = pack(&[5, 3, 4, 2, 6], 10, Strategy::Wrapped, Overflow::Error).unwrap();
        assert_eq!(p.num_bins(), 2);
        assert_eq!(bins_of(&p)[0], vec![(0, 0, 5), (1, 0, 3), (2, 0, 2)]);
    }

    #[test]
    fn errors() {
        assert!(pack(&[1], 0, Strategy::Bfd, Overflow::Error).is_err());
        assert!(pack(&[-1], 5, Strategy::Bfd, Overflow::Error).is_err());
        assert!(pack(&[6], 5, Strategy::Ffd, Overflow::Error).is_err());
    }

    #[test]
    fn roomset_next() {
        let mut r = RoomSet::new(10_000);
        for v in [0usize, 63, 64, 4095, 4096, 9999] {
            r.set(v);
        }
        assert_eq!(r.next(0), Some(0));
        assert_eq!(r.next(1), Some(63));
        assert_eq!(r.next(65), Some(4095));
        assert_eq!(r.next(4097), Some(9999));
        r.clear(9999);
        assert_eq!(r.next(4097), None);
        assert_eq!(r.next(20_000), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn bin_counts_match_the_naive_reference(
            lengths in prop::collection::vec(0i64..60, 0..200), cap in 1i64..80,
        ) {
            let lengths: Vec<i64> = lengths.into_iter().map(|l| l.min(cap)).collect();
            let b = pack(&lengths, cap, Strategy::Bfd, Overflow::Error).unwrap();
            let f = pack(&lengths, cap, Strategy::Ffd, Overflow::Error).unwrap();

            prop_assert_eq!(b.num_bins(), naive(&lengths, cap, true));
            prop_assert_eq!(f.num_bins(), naive(&lengths, cap, false));
            for p in [&b, &f] {
                let mut seen = vec![0; lengths.len()];
                for bin in bins_of(p) {
                    prop_assert!(bin.iter().map(|x| x.2).sum::<i64>() <= cap);
                    for (s, off, l) in bin { prop_assert_eq!(off, 0); prop_assert_eq!(l, lengths[s as usize]); seen[s as usize] += 1; }
                }
                prop_assert!(seen.iter().all(|&c| c == 1));
            }
        }

        #[test]
        fn split_covers_every_token(lengths in prop::collection::vec(0i64..300, 0..50), cap in 1i64..64) {
            for strat in [Strategy::Bfd, Strategy::Ffd, Strategy::Wrapped] {
                let p = pack(&lengths, cap, strat, Overflow::Split).unwrap();
                let mut cover: Vec<Vec<bool>> = lengths.iter().map(|&l| vec![false; l as usize]).collect();
                for bin in bins_of(&p) {
                    prop_assert!(bin.iter().map(|x| x.2).sum::<i64>() <= cap);
                    for (s, off, l) in bin {
                        for t in off..off + l { prop_assert!(!cover[s as usize][t as usize]); cover[s as usize][t as usize] = true; }
                    }
                }
                prop_assert!(cover.iter().all(|c| c.iter().all(|&x| x)));
            }
        }
    }

    #[test]
    fn btree_bfd_agrees_with_buckets() {
        let lengths: Vec<i64> = (0..500).map(|i| (i * 7919 % 97) + 1).collect();
        let items: Vec<(u32, i64, i64)> = lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, 0, l))
            .collect();
        let (order, sl) = sort_desc(&items, 100);
        let a = bfd_buckets(items.len(), &order, &sl, 100);
        let b = bfd_btree(items.len(), &order, &sl, 100);
        let nb = |v: &[u32]| v.iter().max().map_or(0, |m| m + 1);
        assert_eq!(nb(&a), nb(&b));
    }
}
