//! Verifiable rewards: answer extraction, math equivalence, labels, formats.
