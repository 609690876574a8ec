//! Chunk rows along the first axis, and what the last chunk's reference is.
//!
//! zarr (v2 metadata, as zarr-python 3 reads it) decodes every chunk,
//! the edge chunks included, to the full chunk shape: an uncompressed
//! chunk must hold `rows × row bytes` bytes even where the array ends
//! inside it. The rows after the array's end are read and dropped. So the
//! last chunk of an array whose first axis the chunk rows do not divide
//! must reference more bytes than the array has left; [`plan_chunks`]
//! picks, in this order:
//!
//! 1. the whole first axis when it fits in one chunk ([`Edge::Exact`]);
//! 2. among the chunk rows from half the target to the target, the one
//!    whose chunks waste the fewest rows (ties: fewer chunks): a divisor
//!    wastes none ([`Edge::Exact`]); otherwise the last range runs on into
//!    the bytes that follow the data in the file, when there are enough
//!    ([`Edge::Overrun`]: a later entry's bytes, read and dropped);
//! 3. a divisor of the first axis between a sixteenth and half the target
//!    (smaller chunks, exact);
//! 4. otherwise the rows of step 2 with the last chunk inline
//!    ([`Edge::Inline`]: its rows, zero-padded to a full chunk, in the
//!    reference JSON as base64). This is the last entry of a file (11 to
//!    a few dozen bytes follow its data) whose first axis has no divisor
//!    in range; the inline chunk costs at most the target bytes × 4/3.
//!
//! Every search costs at most 16 × the number of chunks of the result.

/// How an array is cut into chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkPlan {
    /// zarr's `chunks`: rows along the first axis, then the other axes
    /// whole (every dimension at least 1, as zarr requires). Empty for a
    /// 0-d array.
    pub chunks: Vec<u64>,
    /// Number of chunk references (0 for an empty array, 1 for a 0-d one).
    pub count: u64,
    /// Bytes per chunk (`rows × row bytes`).
    pub chunk_bytes: u64,
    /// What the last chunk's reference is.
    pub edge: Edge,
}

/// The last chunk's reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The chunk rows divide the first axis: every range is the array's.
    Exact,
    /// The last range runs this many bytes past the array's data, into the
    /// bytes that follow it in the file.
    Overrun(u64),
    /// The last chunk is inline: its rows, zero-padded to a full chunk.
    Inline,
}

/// Plans the chunks of an array of `shape` and `itemsize` whose data is
/// followed by `after` bytes of the file, aiming at `target` bytes per
/// chunk (at least one row per chunk).
pub fn plan_chunks(shape: &[u64], itemsize: u64, after: u64, target: u64) -> ChunkPlan {
    let Some((&n, rest)) = shape.split_first() else {
        return ChunkPlan {
            chunks: Vec::new(),
            count: 1,
            chunk_bytes: itemsize,
            edge: Edge::Exact,
        };
    };
    let row = rest
        .iter()
        .try_fold(itemsize, |a, &d| a.checked_mul(d))
        .unwrap_or(u64::MAX);
    let with_rows = |c: u64, edge: Edge| {
        let mut chunks = vec![c.max(1)];
        chunks.extend(rest.iter().map(|&d| d.max(1)));
        ChunkPlan {
            chunks,
            count: if row == 0 { 0 } else { n.div_ceil(c.max(1)) },
            chunk_bytes: c.max(1).saturating_mul(row),
            edge,
        }
    };
    if n == 0 || row == 0 {
        return with_rows(n, Edge::Exact);
    }
    let t = (target / row).max(1);
    if n <= t {
        return with_rows(n, Edge::Exact);
    }
    // Step 2: k chunks of ceil(n / k) rows waste k * ceil(n / k) - n rows.
    let lo = t.div_ceil(2);
    let (mut best_c, mut best_waste) = (t, waste(n, t));
    for k in n.div_ceil(t)..=n.div_ceil(lo) {
        let c = n.div_ceil(k);
        if c < lo || c > t {
            continue;
        }
        let w = waste(n, c);
        if w < best_waste {
            (best_c, best_waste) = (c, w);
        }
        if w == 0 {
            break;
        }
    }
    if best_waste == 0 {
        return with_rows(best_c, Edge::Exact);
    }
    let over = best_waste.saturating_mul(row);
    if over <= after {
        return with_rows(best_c, Edge::Overrun(over));
    }
    // Step 3: a divisor between t / 16 and t / 2, largest first.
    let lo16 = t.div_ceil(16);
    for k in n.div_ceil(lo).saturating_add(1)..=n.div_ceil(lo16) {
        if n % k == 0 {
            let c = n / k;
            if c >= lo16 && c < lo {
                return with_rows(c, Edge::Exact);
            }
        }
    }
    with_rows(best_c, Edge::Inline)
}

/// Rows past `n` in the last of the chunks of `c` rows.
fn waste(n: u64, c: u64) -> u64 {
    n.div_ceil(c).saturating_mul(c).saturating_sub(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_arrays_are_one_chunk() {
        let p = plan_chunks(&[1000, 37], 8, 0, 16 << 20);
        assert_eq!(p.chunks, [1000, 37]);
        assert_eq!((p.count, p.edge), (1, Edge::Exact));
        assert_eq!(p.chunk_bytes, 1000 * 37 * 8);
        let p = plan_chunks(&[], 8, 0, 100);
        assert_eq!((p.chunks.len(), p.count, p.chunk_bytes), (0, 1, 8));
    }

    #[test]
    fn empty_arrays_have_no_chunks() {
        for shape in [&[0u64, 5][..], &[5, 0], &[0], &[3, 0, 2]] {
            let p = plan_chunks(shape, 4, 0, 100);
            assert_eq!(p.count, 0, "{shape:?}");
            assert!(p.chunks.iter().all(|&c| c >= 1), "{shape:?}");
        }
    }

    #[test]
    fn a_divisor_near_the_target() {
        // 1000 rows of 100 bytes, target 10,000 bytes = 100 rows.
        let p = plan_chunks(&[1000, 25], 4, 0, 10_000);
        assert_eq!((p.chunks[0], p.count, p.edge), (100, 10, Edge::Exact));
        // 999 = 27 * 37: 37 rows divides (in 50..=100 none does but 37 < 50):
        // step 2 finds no divisor, nothing follows: step 3 takes 37.
        let p = plan_chunks(&[999, 25], 4, 0, 10_000);
        assert_eq!((p.chunks[0], p.edge), (37, Edge::Exact));
        // 990 = 10 * 99.
        let p = plan_chunks(&[990, 25], 4, 0, 10_000);
        assert_eq!((p.chunks[0], p.edge), (99, Edge::Exact));
    }

    #[test]
    fn the_last_range_runs_on_when_bytes_follow() {
        // 1009 rows (prime): 11 chunks of 92 rows waste 3 rows.
        let p = plan_chunks(&[1009, 25], 4, 1 << 20, 10_000);
        assert_eq!(p.chunks[0], 92);
        assert_eq!(p.count, 11);
        assert_eq!(p.edge, Edge::Overrun(3 * 100));
        // Exactly enough bytes after.
        assert_eq!(
            plan_chunks(&[1009, 25], 4, 300, 10_000).edge,
            Edge::Overrun(300)
        );
        // Not enough, no divisor: inline.
        assert_eq!(plan_chunks(&[1009, 25], 4, 299, 10_000).edge, Edge::Inline);
    }

    #[test]
    fn rows_larger_than_the_target_are_one_per_chunk() {
        let p = plan_chunks(&[7, 1000], 8, 0, 100);
        assert_eq!((p.chunks[0], p.count, p.edge), (1, 7, Edge::Exact));
    }

    #[test]
    fn plans_cover_the_array_and_stay_in_range() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = seed % 5000 + 1;
            let row = (seed >> 20) % 64 + 1;
            let target = (seed >> 30) % 20_000 + 1;
            let after = (seed >> 45) % 3000;
            let p = plan_chunks(&[n, row], 1, after, target);
            let c = p.chunks[0];
            assert_eq!(p.count, n.div_ceil(c));
            assert!(c * row <= target.max(row), "{n} {row} {target}");
            let past = p.count * c * row - n * row;
            match p.edge {
                Edge::Exact => assert_eq!(past, 0),
                Edge::Overrun(b) => assert!(b == past && b <= after && b > 0),
                Edge::Inline => assert!(past > after),
            }
        }
    }
}
