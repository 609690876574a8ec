//! mmpk files for the tests, built with mmpk-format's public writers.

use mmpk_format::array::Encoding;
use mmpk_format::dtype::Dtype;
use mmpk_format::generic::rewrite_pickle;
use mmpk_format::header::{TERMINATOR, TERMINATOR_LEN};
use mmpk_format::write::encode_masked;
use mmpk_format::write::write_entry;
use mmpk_format::write::{array_tail, encode_array, write_array_head};
use mmpk_format::write::{write_commit, write_header};

/// Appends entries to a file; `finish` adds the terminator.
pub struct Builder {
    pub bytes: Vec<u8>,
    memo: u32,
}

impl Builder {
    pub fn new(commit: i32) -> Builder {
        Builder {
            bytes: write_header(commit).to_vec(),
            memo: 1,
        }
    }

    /// Reopens a finished file for appending (drops its terminator) and
    /// sets its commit number.
    pub fn reopen(mut file: Vec<u8>, commit: i32) -> Builder {
        file.truncate(file.len() - TERMINATOR_LEN);
        write_commit(&mut file, commit).unwrap();
        Builder {
            bytes: file,
            memo: 100,
        }
    }

    pub fn array(
        &mut self,
        key: &str,
        enc: Encoding,
        dtype: &str,
        shape: &[u64],
        raw: &[u8],
    ) -> &mut Self {
        let d = Dtype::parse(dtype).unwrap();
        let mut v = Vec::new();
        encode_array(&mut v, enc, &d, shape, raw).unwrap();
        write_entry(&mut self.bytes, key, &v, 0, true).unwrap();
        self
    }

    pub fn masked(
        &mut self,
        key: &str,
        dtype: &str,
        shape: &[u64],
        raw: &[u8],
        mask: &[u8],
    ) -> &mut Self {
        let d = Dtype::parse(dtype).unwrap();
        let mut v = Vec::new();
        encode_masked(&mut v, Encoding::V2, &d, shape, raw, Some(mask)).unwrap();
        write_entry(&mut self.bytes, key, &v, 0, true).unwrap();
        self
    }

    /// A generic value from a whole pickle (CPython's bytes).
    pub fn pickle(&mut self, key: &str, pickle: &[u8], live: bool) -> &mut Self {
        let v = rewrite_pickle(pickle, self.memo).unwrap();
        self.memo = self.memo.max(v.memo_max);
        v.write_entry(&mut self.bytes, key, live).unwrap();
        self
    }

    /// A generic value from raw ops.
    pub fn ops(&mut self, key: &str, ops: &[u8], live: bool) -> &mut Self {
        write_entry(&mut self.bytes, key, ops, self.memo, live).unwrap();
        self
    }

    pub fn finish(&self) -> Vec<u8> {
        let mut f = self.bytes.clone();
        f.extend_from_slice(&TERMINATOR);
        f
    }
}

/// Bytes to place at offsets.
pub type Pieces = Vec<(u64, Vec<u8>)>;

/// The layout of a file of large v2 arrays: its length, the pieces of
/// bytes that are not raw data (offset, bytes), and each array's raw-bytes
/// offset. Everything else is zero.
pub fn sparse_layout(arrays: &[(&str, &str, &[u64])]) -> (u64, Pieces, Vec<u64>) {
    let mut pieces = vec![(0u64, write_header(1).to_vec())];
    let mut total = 24u64;
    let mut offsets = Vec::new();
    for &(key, dtype, shape) in arrays {
        let d = Dtype::parse(dtype).unwrap();
        let n = mmpk_format::array::nbytes(&d, shape).unwrap();
        let mut head = Vec::new();
        write_array_head(&mut head, Encoding::V2, n);
        let tail = array_tail(Encoding::V2, &d, shape).unwrap();
        let value_len = head.len() as u64 + n + tail.len() as u64;
        let l = 2 + key.len() as u64 + value_len + 8;
        let mut front = vec![0x95];
        front.extend_from_slice(&l.to_le_bytes());
        front.push(0x8c);
        front.push(key.len() as u8);
        front.extend_from_slice(key.as_bytes());
        front.extend_from_slice(&head);
        let mut back = tail;
        back.extend_from_slice(&[0x4a, 0, 0, 0, 0, 0x30, 0x88, 0x30]);
        let data_at = total + front.len() as u64;
        pieces.push((total, front));
        pieces.push((data_at + n, back));
        offsets.push(data_at);
        total += 9 + l;
    }
    pieces.push((total, TERMINATOR.to_vec()));
    total += TERMINATOR_LEN as u64;
    (total, pieces, offsets)
}

/// A file of large v2 arrays whose raw bytes are zero (the vector is
/// allocated zeroed, so untouched pages cost no memory); returns the file
/// and each array's raw-bytes offset.
pub fn sparse_file(arrays: &[(&str, &str, &[u64])]) -> (Vec<u8>, Vec<u64>) {
    let (total, pieces, offsets) = sparse_layout(arrays);
    let mut f = vec![0u8; total as usize];
    for (at, p) in pieces {
        f[at as usize..at as usize + p.len()].copy_from_slice(&p);
    }
    (f, offsets)
}

/// The same file written to `path` as a sparse file (holes for the data).
pub fn write_sparse(path: &std::path::Path, arrays: &[(&str, &str, &[u64])]) -> Vec<u64> {
    use std::io::{Seek, SeekFrom, Write};
    let (total, pieces, offsets) = sparse_layout(arrays);
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(total).unwrap();
    for (at, p) in pieces {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&p).unwrap();
    }
    offsets
}

/// `pickle.dumps(['ab', 'ab', 7, 1.5, None], 4)` (CPython 3.11: the str
/// is memoized and fetched).
pub const LIST_PICKLE: &[u8] = b"\x80\x04\x95\x18\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x02ab\x94h\x01K\x07G?\xf8\x00\x00\x00\x00\x00\x00Ne.";
