//! Model inputs for every bin: each piece's tokens end to end, position ids
//! restarting per piece, labels with -100 on prompts and piece starts.

use super::Packed;
use crate::{Error, Result};

/// Flat model inputs for every bin: tokens of each piece laid end to end,
/// position ids restarting at 0 per piece, labels = tokens with -100 on
/// prompt tokens (original position < prompt length) and on each piece's
/// first token. `tok_ptr[b]..tok_ptr[b + 1]` are bin `b`'s tokens.
pub struct Collated {
    pub input_ids: Vec<i64>,
    pub position_ids: Vec<i64>,
    pub labels: Vec<i64>,
    pub tok_ptr: Vec<i64>,
}

/// `flat`/`seq_ptr`: every sequence's tokens concatenated, sequence `i` at
/// `seq_ptr[i]..seq_ptr[i + 1]`; `prompt_len[i]` (or 0).
pub fn collate(
    flat: &[i64],
    seq_ptr: &[i64],
    prompt_len: Option<&[i64]>,
    packed: &Packed,
) -> Result<Collated> {
    let nseq = seq_ptr.len().saturating_sub(1);
    if seq_ptr.first().copied().unwrap_or(0) != 0
        || seq_ptr.windows(2).any(|w| w[1] < w[0])
        || seq_ptr.last().copied().unwrap_or(0) as usize != flat.len()
    {
        return Err(Error::value("sequences", "inconsistent sequence offsets"));
    }
    if let Some(p) = prompt_len {
        if p.len() != nseq {
            return Err(Error::value(
                "prompt_lengths",
                format!("{} values for {nseq} sequences", p.len()),
            ));
        }
        if let Some(i) = p.iter().position(|&x| x < 0) {
            return Err(Error::value(
                "prompt_lengths",
                format!("must be >= 0, got {} at index {i}", p[i]),
            ));
        }
        // a prompt longer than its sequence would label nothing: a caller's
        // off-by-one (e.g. prompt lengths of another tokenisation), not data
        if let Some(i) = (0..nseq).position(|i| p[i] > seq_ptr[i + 1] - seq_ptr[i]) {
            return Err(Error::value(
                "prompt_lengths",
                format!(
                    "prompt_lengths[{i}] = {} is longer than sequence {i} ({} tokens)",
                    p[i],
                    seq_ptr[i + 1] - seq_ptr[i]
                ),
            ));
        }
    }
    let np = packed.seq.len();
    if packed.offset.len() != np || packed.len.len() != np {
        return Err(Error::value("packing", "pieces arrays differ in length"));
    }
    if packed.bin_ptr.first().copied().unwrap_or(0) != 0
        || packed.bin_ptr.windows(2).any(|w| w[1] < w[0])
        || packed.bin_ptr.last().copied().unwrap_or(0) as usize != np
    {
        return Err(Error::value("packing", "inconsistent bin offsets"));
    }
    let mut total = 0usize;
    for j in 0..np {
        let (s, off, l) = (packed.seq[j], packed.offset[j], packed.len[j]);
        if s < 0 || s as usize >= nseq {
            return Err(Error::value(
                "packing",
                format!("piece {j} names sequence {s}, but there are {nseq} sequences"),
            ));
        }
        let slen = seq_ptr[s as usize + 1] - seq_ptr[s as usize];
        if off < 0 || l < 0 || off + l > slen {
            return Err(Error::value(
                "packing",
                format!(
                    "piece {j} ({off}..{}) is outside sequence {s} of length {slen} \
                     (was the packing made for these sequences?)",
                    off + l
                ),
            ));
        }
        total += l as usize;
    }
    let mut c = Collated {
        input_ids: Vec::with_capacity(total),
        position_ids: Vec::with_capacity(total),
        labels: Vec::with_capacity(total),
        tok_ptr: Vec::with_capacity(packed.num_bins() + 1),
    };
    c.tok_ptr.push(0);
    for b in 0..packed.num_bins() {
        for j in packed.bin_ptr[b] as usize..packed.bin_ptr[b + 1] as usize {
            let s = packed.seq[j] as usize;
            let (off, l) = (packed.offset[j] as usize, packed.len[j] as usize);
            let start = seq_ptr[s] as usize + off;
            let toks = &flat[start..start + l];
            let plen = prompt_len.map_or(0, |p| p[s]) as usize;
            c.input_ids.extend_from_slice(toks);
            c.position_ids.extend(0..l as i64);
            for (t, &tok) in toks.iter().enumerate() {
                let masked = t == 0 || off + t < plen;
                c.labels.push(if masked { -100 } else { tok });
            }
        }
        c.tok_ptr.push(c.input_ids.len() as i64);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_bin(lens: &[i64]) -> Packed {
        Packed {
            bin_ptr: vec![0, lens.len() as i64],
            seq: (0..lens.len() as i64).collect(),
            offset: vec![0; lens.len()],
            len: lens.to_vec(),
        }
    }

    #[test]
    fn labels_mask_prompts_and_piece_starts() {
        let c = collate(
            &[1, 2, 3, 4, 5],
            &[0, 3, 5],
            Some(&[1, 0]),
            &one_bin(&[3, 2]),
        )
        .unwrap();
        assert_eq!(c.input_ids, [1, 2, 3, 4, 5]);
        assert_eq!(c.position_ids, [0, 1, 2, 0, 1]);
        assert_eq!(c.labels, [-100, 2, 3, -100, 5]);
        assert_eq!(c.tok_ptr, [0, 5]);
    }

    #[test]
    fn prompts_longer_than_their_sequence_are_rejected() {
        let p = one_bin(&[3, 2]);
        let e = collate(&[1, 2, 3, 4, 5], &[0, 3, 5], Some(&[1, 3]), &p)
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("prompt_lengths:") && e.contains("[1]"), "{e}");
        // equal to the length is fine: the whole sequence is prompt
        assert!(collate(&[1, 2, 3, 4, 5], &[0, 3, 5], Some(&[3, 2]), &p).is_ok());
    }
}
