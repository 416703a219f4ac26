//! Balancing workloads across `k` partitions (data-parallel ranks):
//! Karmarkar-Karp largest differencing (verl's `seqlen_balancing.py`) or
//! greedy longest-processing-time.

use crate::error::named_enum;
use crate::{Error, Result};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

named_enum! {
    pub enum BalanceMethod for "method" {
        KarmarkarKarp = "karmarkar_karp",
        Greedy = "greedy",
    }
}

/// `k` partitions of the item indices (each sorted ascending, as int64 for
/// the caller's arrays) with near-equal sums.
pub fn balance(
    workloads: &[i64],
    k: usize,
    method: BalanceMethod,
    equal_size: bool,
) -> Result<Vec<Vec<i64>>> {
    let n = workloads.len();
    if k == 0 {
        return Err(Error::value("k", "must be >= 1"));
    }
    if let Some(i) = workloads.iter().position(|&w| w < 0) {
        return Err(Error::value(
            "workloads",
            format!("must be >= 0, got {} at index {i}", workloads[i]),
        ));
    }
    if equal_size && n % k != 0 {
        return Err(Error::value(
            "k",
            format!("equal_size needs k to divide the number of items ({n} items, k={k})"),
        ));
    }
    // (fewer items than partitions is allowed: some partitions are then empty)
    let parts = match method {
        BalanceMethod::KarmarkarKarp => kk(workloads, k, equal_size),
        BalanceMethod::Greedy => greedy(workloads, k, equal_size),
    };
    Ok(parts
        .into_iter()
        .map(|mut p| {
            p.sort_unstable();
            p.into_iter().map(i64::from).collect()
        })
        .collect())
}

/// A partial solution of the largest differencing method: k subsets, sorted by
/// sum descending (ties by their smallest index, for determinism).
#[derive(Clone, Debug, PartialEq, Eq)]
struct KkState {
    sets: Vec<(i64, Vec<u32>)>,
}

impl KkState {
    fn spread(&self) -> i64 {
        self.sets[0].0 - self.sets[self.sets.len() - 1].0
    }
    fn sort(&mut self) {
        self.sets
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.first().cmp(&b.1.first())));
    }
}

fn kk(w: &[i64], k: usize, equal_size: bool) -> Vec<Vec<u32>> {
    let n = w.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| (w[i as usize], i));
    // heap by (spread, then a sequence number: later states first on ties, as a
    // stack would), each entry one state
    let mut heap: BinaryHeap<(i64, u64, usize)> = BinaryHeap::new();
    let mut states: Vec<Option<KkState>> = Vec::new();
    let mut seqno = 0u64;
    let mut push = |st: KkState,
                    heap: &mut BinaryHeap<(i64, u64, usize)>,
                    states: &mut Vec<Option<KkState>>| {
        heap.push((st.spread(), seqno, states.len()));
        seqno += 1;
        states.push(Some(st));
    };
    if equal_size {
        for chunk in order.chunks(k) {
            let mut st = KkState {
                sets: chunk.iter().map(|&i| (w[i as usize], vec![i])).collect(),
            };
            st.sort();
            push(st, &mut heap, &mut states);
        }
    } else {
        for &i in &order {
            let mut sets = vec![(0i64, Vec::new()); k];
            sets[0] = (w[i as usize], vec![i]);
            let mut st = KkState { sets };
            st.sort();
            push(st, &mut heap, &mut states);
        }
    }
    if heap.is_empty() {
        return vec![Vec::new(); k];
    }
    while heap.len() > 1 {
        let (_, _, a) = heap.pop().expect("len > 1");
        let (_, _, b) = heap.pop().expect("len > 1");
        let sa = states[a].take().expect("live state");
        let sb = states[b].take().expect("live state");
        // pair the largest subset of one with the smallest of the other
        let mut sets = Vec::with_capacity(k);
        for (i, (s1, v1)) in sa.sets.into_iter().enumerate() {
            let (s2, v2) = &sb.sets[k - 1 - i];
            let mut v = v1;
            v.extend_from_slice(v2);
            sets.push((s1 + s2, v));
        }
        let mut st = KkState { sets };
        st.sort();
        push(st, &mut heap, &mut states);
    }
    let (_, _, last) = heap.pop().expect("one state left");
    states[last]
        .take()
        .expect("live state")
        .sets
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// Longest processing time first: each item (largest first) to the partition
/// with the smallest sum (ties: lowest index); with `equal_size`, only among
/// partitions that are not full.
fn greedy(w: &[i64], k: usize, equal_size: bool) -> Vec<Vec<u32>> {
    let n = w.len();
    let cap = if equal_size { n / k } else { usize::MAX };
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| (Reverse(w[i as usize]), i));
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = (0..k).map(|p| Reverse((0, p))).collect();
    let mut parts = vec![Vec::new(); k];
    for &i in &order {
        let Reverse((s, p)) = heap.pop().expect("a partition with room");
        parts[p].push(i);
        if parts[p].len() < cap {
            heap.push(Reverse((s + w[i as usize], p)));
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop, prop_assert_eq, proptest, ProptestConfig};

    #[test]
    fn errors() {
        assert!(balance(&[1, 2, 3], 2, BalanceMethod::KarmarkarKarp, true).is_err());
        assert!(balance(&[1], 0, BalanceMethod::Greedy, false).is_err());
        let e = "kk".parse::<BalanceMethod>().unwrap_err().to_string();
        assert!(
            e.starts_with("method:") && e.contains("karmarkar_karp"),
            "{e}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn balance_partitions_cover(w in prop::collection::vec(0i64..1000, 1..60), k in 1usize..6) {
            for m in [BalanceMethod::KarmarkarKarp, BalanceMethod::Greedy] {
                let parts = balance(&w, k, m, false).unwrap();
                prop_assert_eq!(parts.len(), k);
                let mut all: Vec<i64> = parts.concat();
                all.sort_unstable();
                prop_assert_eq!(all, (0..w.len() as i64).collect::<Vec<_>>());
            }
        }
    }
}
