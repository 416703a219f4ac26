//! Sequence packing (BFD/FFD) and workload balancing across ranks.
