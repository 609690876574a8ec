//! `.npy` files, streamed: `mmpk put --npy` and `mmpk export` never hold
//! an array in memory. The header is parsed and written here (numpy's
//! format specification, `numpy.lib.format`, versions 1 to 3, every dtype
//! mmpk stores); the data is copied between files by the kernel where it
//! can (`copy_file_range`, through `mmpk::platform`), else through one
//! bounded buffer, with explicit offsets.
//!
//! Pipes (`--npy -`, `export KEY -`) stream through the same buffer. A
//! Fortran-ordered array must be transposed into the C order mmpk stores:
//! from a file this reads it in tiles of at most [`TILE`] bytes with
//! positioned reads; from a pipe the data is first spooled to an unnamed
//! temporary file (in `$TMPDIR`, removed when the command ends; it needs
//! free space the size of the array), then transposed from there.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;

use mmpk::{ArrayData, Dict};
use mmpk_format::dtype::Dtype;
use py_literal::Value as Py;

use crate::ui::{self, fail};
use crate::Failure;

/// Largest tile of a Fortran-order transposition, in bytes.
pub const TILE: usize = 4 << 20;

/// File copies are made in pieces of this size, so the progress bar moves.
const PIECE: u64 = 64 << 20;

/// What a `.npy` header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The dtype: `dtype.str` or a structured descr as Python text.
    pub descr: String,
    /// Whether the data is in Fortran order.
    pub fortran: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// Bytes before the data.
    pub len: usize,
}

/// Reads and checks a `.npy` header (versions 1, 2 and 3).
pub fn read_header(r: &mut impl Read) -> Result<NpyHeader, String> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|_| "not a .npy file (too short)".to_string())?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (hlen, pre) = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(|e| e.to_string())?;
            (u16::from_le_bytes(b) as usize, 10)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(|e| e.to_string())?;
            (u32::from_le_bytes(b) as usize, 12)
        }
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    if hlen > 1 << 24 {
        return Err(format!(".npy header of {hlen} bytes is too long"));
    }
    let mut h = vec![0u8; hlen];
    r.read_exact(&mut h)
        .map_err(|_| "the .npy header is truncated".to_string())?;
    let text = std::str::from_utf8(&h).map_err(|_| "the .npy header is not UTF-8".to_string())?;
    let v: Py = text
        .trim_end()
        .parse()
        .map_err(|e| format!("bad .npy header: {e}"))?;
    let Py::Dict(items) = v else {
        return Err("the .npy header is not a dict".into());
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in items {
        match (k.as_string().map(String::as_str), v) {
            (Some("descr"), Py::String(s)) => descr = Some(s),
            (Some("descr"), v @ Py::List(_)) => descr = Some(v.to_string()),
            (Some("fortran_order"), Py::Boolean(b)) => fortran = Some(b),
            (Some("shape"), Py::Tuple(t)) => {
                let s: Option<Vec<usize>> = t
                    .iter()
                    .map(|d| d.as_integer().and_then(|i| usize::try_from(i.clone()).ok()))
                    .collect();
                shape = Some(s.ok_or("bad shape in the .npy header")?);
            }
            (k, _) => return Err(format!("unexpected {k:?} item in the .npy header")),
        }
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran), Some(shape)) => Ok(NpyHeader {
            descr,
            fortran,
            shape,
            len: pre + hlen,
        }),
        _ => Err("the .npy header lacks descr, fortran_order or shape".into()),
    }
}

/// A `.npy` header for `descr` (a `dtype.str`, or a structured descr as
/// Python text) and a C-order `shape`, padded to 64 bytes.
pub fn header_bytes(descr_py: &str, shape: &[usize]) -> Vec<u8> {
    let shape = match shape {
        [one] => format!("({one},)"),
        s => format!(
            "({})",
            s.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': {descr_py}, 'fortran_order': False, 'shape': {shape}, }}");
    let version: u8 = if !dict.is_ascii() {
        3
    } else if (10 + dict.len() + 1).div_ceil(64) * 64 - 10 <= u16::MAX as usize {
        1
    } else {
        2
    };
    let pre = if version == 1 { 10 } else { 12 };
    let total = (pre + dict.len() + 1).div_ceil(64) * 64;
    let hlen = total - pre;
    let mut out = b"\x93NUMPY".to_vec();
    out.push(version);
    out.push(0);
    if version == 1 {
        out.extend_from_slice(&(hlen as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// Where the data of a `.npy` comes from.
enum Input {
    /// A regular file (or a spool file), the data at `base`.
    File { file: File, base: u64 },
    /// A pipe, positioned at the first data byte.
    Pipe(BufReader<io::Stdin>),
}

/// A `.npy` file opened and checked, ready to insert.
pub struct NpySource {
    name: String,
    header: NpyHeader,
    dtype: Dtype,
    nbytes: u64,
    input: Input,
}

/// Whether Fortran-order bytes differ from C-order ones for `shape` (more
/// than one dimension longer than 1).
fn transposed(h: &NpyHeader) -> bool {
    h.fortran && h.shape.iter().filter(|&&d| d > 1).count() > 1
}

/// Opens `path` (`-`: standard input) and checks its header, before the
/// dict is opened, so that a bad file changes nothing. A Fortran-ordered
/// array from a pipe is spooled to a temporary file here.
pub fn open(path: &str) -> Result<NpySource, Failure> {
    let name = if path == "-" { "<stdin>" } else { path }.to_string();
    let at = name.clone();
    let bad = move |m: String| Failure::input(format!("{at}: {m}"));
    let (header, input) = if path == "-" {
        let mut r = BufReader::with_capacity(1 << 16, io::stdin());
        let h = read_header(&mut r).map_err(&bad)?;
        (h, Input::Pipe(r))
    } else {
        let file = File::open(path).map_err(|e| fail(path, &e))?;
        let h = read_header(&mut BufReader::new(&file)).map_err(&bad)?;
        let base = h.len as u64;
        (h, Input::File { file, base })
    };
    let dtype = Dtype::parse(&header.descr)
        .map_err(|e| bad(format!("dtype {}: {}", header.descr, ui::one_line("", &e))))?;
    if matches!(dtype, Dtype::Structured(_)) {
        return Err(bad(format!(
            "structured dtype {} is not supported by mmpk put (mmpk stores it only through Python)",
            header.descr
        )));
    }
    let shape64: Vec<u64> = header.shape.iter().map(|&d| d as u64).collect();
    let nbytes = mmpk_format::array::nbytes(&dtype, &shape64)
        .ok_or_else(|| bad("the shape's size overflows".into()))?;
    let mut src = NpySource {
        name,
        header,
        dtype,
        nbytes,
        input,
    };
    match &mut src.input {
        Input::File { file, base } => {
            let size = file.metadata().map_err(|e| fail(path, &e))?.len();
            if size < *base + nbytes {
                return Err(bad(format!(
                    "the data is truncated: dtype and shape need {nbytes} bytes, the file has {}",
                    size.saturating_sub(*base)
                )));
            }
        }
        Input::Pipe(r) if transposed(&src.header) => {
            let spool = tempfile::tempfile().map_err(|e| fail("temporary file", &e))?;
            let pb = ui::bytes_bar(if nbytes >= ui::LARGE { nbytes } else { 0 }, "spool");
            mmpk::platform::copy_from_reader(&mut pb.wrap_read(r), &spool, 0, nbytes)
                .map_err(|e| truncated(&src.name, nbytes, &e))?;
            pb.finish_and_clear();
            src.input = Input::File {
                file: spool,
                base: 0,
            };
        }
        Input::Pipe(_) => {}
    }
    Ok(src)
}

fn truncated(name: &str, nbytes: u64, e: &io::Error) -> Failure {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Failure::input(format!(
            "{name}: the data is truncated: dtype and shape need {nbytes} bytes"
        ))
    } else {
        fail(name, e)
    }
}

/// Inserts `src` under `key`: its bytes go straight from the `.npy` into
/// the new entry (a file range in the kernel, a pipe through the buffer,
/// a Fortran-order array through the tiled transposition).
pub fn insert(d: &Dict, key: &str, src: NpySource) -> Result<(), Failure> {
    let at = format!("{}: entry {key:?}", d.path().display());
    let NpySource {
        name,
        header,
        dtype,
        nbytes,
        input,
    } = src;
    let dt = dtype.str();
    let pb = ui::bytes_bar(if nbytes >= ui::LARGE { nbytes } else { 0 }, "put");
    let r = match input {
        Input::File { file, base } if transposed(&header) => {
            let itemsize = dtype.itemsize() as usize;
            d.insert_array_with(key, &dt, &header.shape, |data| {
                fortran_to_c(&file, base, &header.shape, itemsize, data, &pb, TILE)
            })
        }
        Input::File { file, base } => d.insert_array_with(key, &dt, &header.shape, |data| {
            let mut at = 0;
            while at < nbytes {
                let n = PIECE.min(nbytes - at);
                data.copy_from_file(&file, base + at, at, n)?;
                pb.inc(n);
                at += n;
            }
            Ok(())
        }),
        Input::Pipe(r) => d.insert_array_from(key, &dt, &header.shape, pb.wrap_read(r)),
    };
    pb.finish_and_clear();
    match r {
        Ok(()) => Ok(()),
        Err(mmpk::Error::Io { source, .. }) if source.kind() == io::ErrorKind::UnexpectedEof => {
            Err(truncated(&name, nbytes, &source))
        }
        Err(e) => Err(fail(&at, &e)),
    }
}

/// Copies a Fortran-order array (`shape`, elements of `itemsize` bytes,
/// at `base` of `src`) into `data` in C order, in tiles of at most
/// [`TILE`] bytes: the axes are split into a leading group `A` (contiguous
/// in the source) and a trailing group `B` (contiguous in the result);
/// each tile is read as runs of `A` (one positioned read per `B` index)
/// and written as runs of `B` (one write per `A` index).
fn fortran_to_c(
    src: &File,
    base: u64,
    shape: &[usize],
    itemsize: usize,
    data: &mut ArrayData<'_>,
    pb: &indicatif::ProgressBar,
    tile_bytes: usize,
) -> io::Result<()> {
    let n = shape.len();
    if n < 2 || shape.contains(&0) || itemsize == 0 {
        return Ok(());
    }
    // Split where the two groups' sizes are closest.
    let total: u128 = shape.iter().map(|&d| d as u128).product();
    let k = (1..n)
        .min_by_key(|&k| {
            let a: u128 = shape[..k].iter().map(|&d| d as u128).product();
            let b = total / a;
            a.max(b) / a.min(b).max(1)
        })
        .unwrap_or(1);
    let (ga, gb) = shape.split_at(k);
    let a: u64 = ga.iter().map(|&d| d as u64).product();
    let b: u64 = gb.iter().map(|&d| d as u64).product();
    let s = itemsize as u64;
    let per = (tile_bytes / itemsize).max(1) as u64;
    let ta = a.min((per as f64).sqrt().ceil() as u64).max(1);
    let tb = b.min((per / ta).max(1));
    let mut tile = vec![0u8; (ta * tb * s) as usize];
    let mut row = vec![0u8; (tb * s) as usize];
    for r in (0..a).step_by(ta as usize) {
        let na = ta.min(a - r);
        for c in (0..b).step_by(tb as usize) {
            let nb = tb.min(b - c);
            // Read: for each B index c + j (C order), the run of A indices
            // r.. (F order) of its source column.
            for j in 0..nb {
                let fb = c_to_f(c + j, gb);
                let off = base + (r + a * fb) * s;
                let dst = &mut tile[(j * na * s) as usize..((j + 1) * na * s) as usize];
                src.read_exact_at(dst, off)?;
            }
            // Write: for each A index r + i (F order), its row of B indices.
            for i in 0..na {
                let ca = f_to_c(r + i, ga);
                for j in 0..nb {
                    let from = ((j * na + i) * s) as usize;
                    row[(j * s) as usize..((j + 1) * s) as usize]
                        .copy_from_slice(&tile[from..from + itemsize]);
                }
                data.write_at((ca * b + c) * s, &row[..(nb * s) as usize])?;
            }
            pb.inc(na * nb * s);
        }
    }
    Ok(())
}

/// The Fortran-order index of the element whose C-order index is `c` in
/// an array of `dims`.
fn c_to_f(mut c: u64, dims: &[usize]) -> u64 {
    let mut f = 0;
    let mut stride: u64 = dims.iter().map(|&d| d as u64).product();
    for &d in dims.iter().rev() {
        stride /= d as u64;
        f += (c % d as u64) * stride;
        c /= d as u64;
    }
    f
}

/// The C-order index of the element whose Fortran-order index is `f`.
fn f_to_c(mut f: u64, dims: &[usize]) -> u64 {
    let mut c = 0;
    let mut stride: u64 = dims.iter().map(|&d| d as u64).product();
    for &d in dims {
        stride /= d as u64;
        c += (f % d as u64) * stride;
        f /= d as u64;
    }
    c
}

/// Writes a `.npy` to `out` (`-`: standard output): the header for
/// `descr_py` (a `dtype.str`, or a structured descr, as Python text) and
/// C-order `shape`, then `nbytes` bytes of `src` from `offset`, copied by
/// the kernel (file to file, holes skipped) or through one bounded buffer
/// (to a pipe).
pub fn export_range(
    descr_py: &str,
    shape: &[usize],
    src: &File,
    offset: u64,
    nbytes: u64,
    out: &str,
) -> Result<(), Failure> {
    let header = header_bytes(descr_py, shape);
    let pb = ui::bytes_bar(if nbytes >= ui::LARGE { nbytes } else { 0 }, "export");
    let name = if out == "-" { "<stdout>" } else { out };
    let r = (|| -> io::Result<()> {
        if out == "-" {
            let mut w = io::stdout().lock();
            w.write_all(&header)?;
            mmpk::platform::copy_to_writer(src, offset, nbytes, &mut pb.wrap_write(&mut w))?;
            return w.flush();
        }
        let file = crate::outfile::create(out)?;
        crate::outfile::write_at(&file, &header, 0)?;
        let h = header.len() as u64;
        let mut at = 0;
        while at < nbytes {
            let n = PIECE.min(nbytes - at);
            crate::outfile::copy_range(src, offset + at, &file, h + at, n)?;
            pb.inc(n);
            at += n;
        }
        // Trailing holes: the file ends where the data does.
        crate::outfile::set_len(&file, h + nbytes)
    })();
    pb.finish_and_clear();
    match r {
        // The reader of the pipe stopped (`| head -c 100`): as print does.
        Err(e) if out == "-" && e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| fail(name, &e)),
    }
}

/// Writes a `.npy` of `descr_py` and `shape` to `out` (`-`: standard
/// output) whose C-order data `fill` writes, piece by piece (a remote
/// array's rows, fetched a bounded number at a time).
#[cfg(feature = "remote")]
pub fn export_with(
    descr_py: &str,
    shape: &[usize],
    out: &str,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let name = if out == "-" { "<stdout>" } else { out };
    let header = header_bytes(descr_py, shape);
    if out == "-" {
        let mut w = io::stdout().lock();
        w.write_all(&header).map_err(|e| fail(name, &e))?;
        fill(&mut w)?;
        return w.flush().map_err(|e| fail(name, &e));
    }
    let f = crate::outfile::Out::create(out).map_err(|e| fail(name, &e))?;
    let mut w = io::BufWriter::with_capacity(1 << 20, f);
    w.write_all(&header).map_err(|e| fail(name, &e))?;
    fill(&mut w)?;
    w.flush().map_err(|e| fail(name, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let h = header_bytes("'<f2'", &[3, 4]);
        assert_eq!(h.len() % 64, 0);
        let got = read_header(&mut &h[..]).unwrap();
        assert_eq!(
            got,
            NpyHeader {
                descr: "<f2".into(),
                fortran: false,
                shape: vec![3, 4],
                len: h.len()
            }
        );
        let h = header_bytes("[('x', '<f4'), ('y', '<i8')]", &[5]);
        let got = read_header(&mut &h[..]).unwrap();
        assert!(got.descr.contains("'x'"), "{}", got.descr);
        assert!(read_header(&mut &b"hello world"[..]).is_err());
    }

    #[test]
    fn fortran_order_is_transposed_in_tiles_of_any_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.mmpk");
        let path = path.to_str().unwrap();
        let d =
            crate::dict_cmds::open_dict(path, crate::dict_cmds::Open::Create(mmpk::Layout::V2, 64))
                .ok()
                .unwrap();
        let pb = indicatif::ProgressBar::hidden();
        let shapes: [&[usize]; 6] = [
            &[2, 3],
            &[7, 1, 5],
            &[3, 4, 5, 2],
            &[1, 9, 1, 4],
            &[33, 17],
            &[5, 6, 7],
        ];
        for (si, shape) in shapes.iter().enumerate() {
            for itemsize in [1usize, 2, 8] {
                let n: usize = shape.iter().product();
                // Element with C index c has bytes (c, c >> 8, ...) in the
                // result; in the Fortran source it sits at F index c_to_f(c).
                let elem = |c: usize| -> Vec<u8> {
                    (0..itemsize)
                        .map(|b| ((c >> (8 * (b % 2))) as u8).wrapping_add(b as u8))
                        .collect()
                };
                let mut src = vec![0u8; 3 + n * itemsize];
                let mut want = Vec::new();
                for c in 0..n {
                    let f = c_to_f(c as u64, shape) as usize;
                    src[3 + f * itemsize..3 + (f + 1) * itemsize].copy_from_slice(&elem(c));
                    want.extend(elem(c));
                }
                let sp = dir.path().join("src");
                std::fs::write(&sp, &src).unwrap();
                let f = File::open(&sp).unwrap();
                for tile in [1usize, 5, 16, 64, 1 << 20] {
                    let key = format!("{si}-{itemsize}-{tile}");
                    let dt = if itemsize == 1 {
                        "|u1".to_string()
                    } else {
                        format!("<u{itemsize}")
                    };
                    d.insert_array_with(&key, &dt, shape, |data| {
                        fortran_to_c(&f, 3, shape, itemsize, data, &pb, tile)
                    })
                    .unwrap();
                    assert_eq!(d.array(&key).unwrap().bytes(), &want[..], "{key}");
                }
            }
        }
    }

    #[test]
    fn c_and_f_indices_are_inverse_permutations() {
        let dims = [3usize, 1, 4, 2];
        let n: u64 = 24;
        let mut seen = vec![false; n as usize];
        for c in 0..n {
            let f = c_to_f(c, &dims);
            assert_eq!(f_to_c(f, &dims), c);
            seen[f as usize] = true;
        }
        assert!(seen.iter().all(|&x| x));
        // Element (1, 0, 2, 1): C index ((1*1+0)*4+2)*2+1 = 13, F index
        // 1 + 3*(0 + 1*(2 + 4*1)) = 19.
        assert_eq!(c_to_f(13, &dims), 19);
    }
}
