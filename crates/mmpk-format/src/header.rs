//! The 24-byte header (docs/format.md section 2), the commit number inside it, and
//! the 11-byte terminator (section 3).

use crate::error::{Error, Result};

/// Length of the header in bytes.
pub const HEADER_LEN: usize = 24;

/// Offset of the commit number (a little-endian `i32`, the BININT argument).
pub const COMMIT_OFFSET: usize = 18;

/// Offset of the format version (a little-endian `i32`).
pub const VERSION_OFFSET: usize = 12;

/// The only format version there is.
pub const FORMAT_VERSION: i32 = 1;

/// The terminator: `FRAME 2`, `DICT`, `STOP`.
pub const TERMINATOR: [u8; TERMINATOR_LEN] = [0x95, 2, 0, 0, 0, 0, 0, 0, 0, 0x64, 0x2e];

/// Length of the terminator in bytes.
pub const TERMINATOR_LEN: usize = 11;

/// Length of a file holding an empty dict (header + terminator).
pub const EMPTY_FILE_LEN: usize = HEADER_LEN + TERMINATOR_LEN;

/// What a valid header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The commit number, changed on every mutation of the file.
    pub commit: i32,
}

/// The header's bytes ([`crate::write::write_header`]).
pub(crate) fn header_bytes(commit: i32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = 0x80; // PROTO
    h[1] = 4;
    h[2] = 0x95; // FRAME 13
    h[3..11].copy_from_slice(&13u64.to_le_bytes());
    h[11] = 0x4a; // BININT version
    h[12..16].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16] = 0x30; // POP
    h[17] = 0x4a; // BININT commit
    h[18..22].copy_from_slice(&commit.to_le_bytes());
    h[22] = 0x30; // POP
    h[23] = 0x28; // MARK
    h
}

/// Parses and validates the header at the start of `file`. Every byte but the
/// version and commit number must equal [`crate::write::write_header`]'s; the first that
/// differs is reported with its offset.
pub fn parse_header(file: &[u8]) -> Result<Header> {
    let expected = header_bytes(0);
    for (i, &want) in expected.iter().enumerate() {
        if (VERSION_OFFSET..VERSION_OFFSET + 4).contains(&i)
            || (COMMIT_OFFSET..COMMIT_OFFSET + 4).contains(&i)
        {
            continue;
        }
        match file.get(i) {
            None => {
                return Err(Error::Truncated {
                    offset: 0,
                    needed: HEADER_LEN as u64,
                })
            }
            Some(&found) if found != want => {
                return Err(Error::BadHeader {
                    offset: i,
                    expected: want,
                    found,
                })
            }
            Some(_) => {}
        }
    }
    let version = read_i32(file, VERSION_OFFSET)?;
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { found: version });
    }
    Ok(Header {
        commit: read_i32(file, COMMIT_OFFSET)?,
    })
}

/// Reads the commit number of `file` (checks only that the BININT opcode
/// before it is in place; use [`parse_header`] to validate everything).
pub fn read_commit(file: &[u8]) -> Result<i32> {
    check_commit_opcode(file)?;
    read_i32(file, COMMIT_OFFSET)
}

/// Whether the terminator starts at `offset` of `file`.
pub fn is_terminator_at(file: &[u8], offset: usize) -> bool {
    offset
        .checked_add(TERMINATOR_LEN)
        .and_then(|end| file.get(offset..end))
        .is_some_and(|b| b == TERMINATOR)
}

pub(crate) fn check_commit_opcode(file: &[u8]) -> Result<()> {
    match file.get(COMMIT_OFFSET - 1) {
        None => Err(Error::Truncated {
            offset: 0,
            needed: HEADER_LEN as u64,
        }),
        Some(&0x4a) => Ok(()),
        Some(&found) => Err(Error::BadHeader {
            offset: COMMIT_OFFSET - 1,
            expected: 0x4a,
            found,
        }),
    }
}

fn read_i32(file: &[u8], at: usize) -> Result<i32> {
    let b: [u8; 4] =
        file.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Truncated {
                offset: 0,
                needed: HEADER_LEN as u64,
            })?;
    Ok(i32::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::*;

    /// The empty dict file, byte for byte. Verified manually with
    /// `python3 -c "import pickle; print(pickle.loads(open(F,'rb').read()))"`
    /// (CPython 3.11): prints `{}`; also with commit 7.
    const EMPTY: &[u8; 35] = b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00\
J\x01\x00\x00\x000J\x07\x00\x00\x000(\
\x95\x02\x00\x00\x00\x00\x00\x00\x00d.";

    #[test]
    fn empty_file_bytes_are_pinned() {
        assert_eq!(empty_file(7), EMPTY.to_vec());
        assert_eq!(empty_file(7).len(), EMPTY_FILE_LEN);
        assert_eq!(parse_header(EMPTY), Ok(Header { commit: 7 }));
        assert!(is_terminator_at(EMPTY, HEADER_LEN));
        assert!(!is_terminator_at(EMPTY, HEADER_LEN + 1));
        assert!(!is_terminator_at(EMPTY, usize::MAX));
    }

    #[test]
    fn empty_file_decodes_to_empty_dict() {
        let p = pickle_ops::decode::decode(&empty_file(3), &Default::default()).unwrap();
        assert!(matches!(p.node(p.root()), Some(pickle_ops::Value::Dict(d)) if d.is_empty()));
    }

    #[test]
    fn commit_round_trips() {
        let mut f = empty_file(0);
        for c in [0, 1, -1, i32::MAX, i32::MIN, 123_456] {
            write_commit(&mut f, c).unwrap();
            assert_eq!(read_commit(&f), Ok(c));
            assert_eq!(parse_header(&f).unwrap().commit, c);
        }
        assert!(matches!(
            read_commit(&f[..20]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            write_commit(&mut [0u8; 3], 1),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn every_differing_byte_is_named() {
        let good = write_header(5);
        for i in 0..HEADER_LEN {
            let mut h = good;
            h[i] ^= 0x41;
            let r = parse_header(&h);
            if (COMMIT_OFFSET..COMMIT_OFFSET + 4).contains(&i) {
                assert!(r.is_ok());
            } else if (VERSION_OFFSET..VERSION_OFFSET + 4).contains(&i) {
                assert!(matches!(r, Err(Error::UnsupportedVersion { .. })));
            } else {
                assert_eq!(
                    r,
                    Err(Error::BadHeader {
                        offset: i,
                        expected: good[i],
                        found: good[i] ^ 0x41
                    })
                );
            }
        }
    }

    #[test]
    fn truncated_headers_are_errors() {
        let good = write_header(5);
        for n in 0..HEADER_LEN {
            assert!(matches!(
                parse_header(&good[..n]),
                Err(Error::Truncated { .. })
            ));
        }
    }

    #[test]
    fn plain_pickle_is_not_a_header() {
        // pickle.dumps({}, 4)
        let plain = b"\x80\x04}\x94.";
        assert_eq!(
            parse_header(plain),
            Err(Error::BadHeader {
                offset: 2,
                expected: 0x95,
                found: b'}'
            })
        );
    }
}
