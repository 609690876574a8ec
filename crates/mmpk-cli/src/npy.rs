//! `.npy` files: `mmpk put --npy` and `mmpk export`. Element types that
//! ndarray-npy handles (bool, integers, f32, f64, complex) in this
//! machine's byte order go through it; every other dtype mmpk stores
//! (`f2`, other byte order, `S`, `U`, `M8`, `m8`, `V`, structured) is
//! written with a header made here from numpy's format specification
//! (`numpy.lib.format`), and read raw.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use mmpk::Dict;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use num_complex::Complex;
use py_literal::Value as Py;

use crate::stats::Elem;
use crate::ui::{self, fail};
use crate::Failure;

/// Expands to `$typed!(T)` for the Rust element type `T` that
/// ndarray-npy reads and writes for `$elem`, and to `$other` for every
/// other kind.
macro_rules! by_elem {
    ($elem:expr, $typed:ident, $other:expr) => {
        match $elem {
            Elem::Bool => $typed!(bool),
            Elem::I8 => $typed!(i8),
            Elem::I16 => $typed!(i16),
            Elem::I32 => $typed!(i32),
            Elem::I64 => $typed!(i64),
            Elem::U8 => $typed!(u8),
            Elem::U16 => $typed!(u16),
            Elem::U32 => $typed!(u32),
            Elem::U64 => $typed!(u64),
            Elem::F32 => $typed!(f32),
            Elem::F64 => $typed!(f64),
            Elem::C64 => $typed!(Complex<f32>),
            Elem::C128 => $typed!(Complex<f64>),
            _ => $other,
        }
    };
}

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

/// Raw C-order bytes from Fortran-order ones (elements of `itemsize`).
fn fortran_to_c(raw: &[u8], shape: &[usize], itemsize: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let rev: Vec<usize> = shape.iter().rev().copied().collect();
    let Ok(idx) = ArrayD::from_shape_vec(ndarray::IxDyn(&rev), (0..n).collect::<Vec<usize>>())
    else {
        return raw.to_vec();
    };
    let mut out = Vec::with_capacity(raw.len());
    for &i in idx.t().iter() {
        out.extend_from_slice(&raw[i * itemsize..(i + 1) * itemsize]);
    }
    out
}

fn native(descr: &str) -> bool {
    let little = cfg!(target_endian = "little");
    match descr.as_bytes().first() {
        Some(b'|') | Some(b'=') => true,
        Some(b'<') => little,
        Some(b'>') => !little,
        _ => false,
    }
}

/// Inserts a typed array read through ndarray-npy under a key.
pub type Inserter = Box<dyn FnOnce(&Dict, &str) -> mmpk::Result<()>>;

/// An array read from a `.npy` file, ready to insert.
pub enum Loaded {
    /// Through ndarray-npy.
    Typed(Inserter),
    /// Raw bytes in C order with their dtype.
    Raw {
        /// `dtype.str`
        dtype: String,
        /// The shape.
        shape: Vec<usize>,
        /// The bytes.
        data: Vec<u8>,
    },
}

/// Reads `path` (before the dict is opened, so that a bad file changes
/// nothing).
pub fn load(path: &str) -> Result<(Loaded, NpyHeader), Failure> {
    let bad = |m: String| Failure::input(format!("{path}: {m}"));
    let mut f = File::open(path).map_err(|e| fail(path, &e))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let h = read_header(&mut BufReader::new(&mut f)).map_err(bad)?;
    let dt = mmpk_format::dtype::Dtype::parse(&h.descr)
        .map_err(|e| bad(format!("dtype {}: {}", h.descr, ui::one_line("", &e))))?;
    if matches!(dt, mmpk_format::dtype::Dtype::Structured(_)) {
        return Err(bad(format!(
            "structured dtype {} is not supported by mmpk put (mmpk stores it only through Python)",
            h.descr
        )));
    }
    let need =
        mmpk_format::array::nbytes(&dt, &h.shape.iter().map(|&d| d as u64).collect::<Vec<_>>())
            .ok_or_else(|| bad("the shape's size overflows".into()))?;
    if size < h.len as u64 + need {
        return Err(bad(format!(
            "the data is truncated: dtype and shape need {need} bytes, the file has {}",
            size.saturating_sub(h.len as u64)
        )));
    }
    let pb = ui::bytes_bar(if need >= ui::LARGE { size } else { 0 }, "read");
    f.seek(SeekFrom::Start(0)).map_err(|e| fail(path, &e))?;
    macro_rules! typed {
        ($t:ty) => {{
            let r = BufReader::with_capacity(1 << 20, pb.wrap_read(&mut f));
            let a = ArrayD::<$t>::read_npy(r).map_err(|e| bad(ui::one_line("", &e)))?;
            Loaded::Typed(Box::new(move |d: &Dict, k: &str| d.insert_array(k, &a)))
        }};
    }
    let loaded = if native(&h.descr) {
        by_elem!(
            Elem::of(&h.descr),
            typed,
            raw(&mut f, &h, &dt, need, &pb, path)?
        )
    } else {
        raw(&mut f, &h, &dt, need, &pb, path)?
    };
    pb.finish_and_clear();
    Ok((loaded, h))
}

fn raw(
    f: &mut File,
    h: &NpyHeader,
    dt: &mmpk_format::dtype::Dtype,
    need: u64,
    pb: &indicatif::ProgressBar,
    path: &str,
) -> Result<Loaded, Failure> {
    f.seek(SeekFrom::Start(h.len as u64))
        .map_err(|e| fail(path, &e))?;
    let mut data = vec![0u8; need as usize];
    pb.wrap_read(&mut *f)
        .read_exact(&mut data)
        .map_err(|e| fail(path, &e))?;
    if h.fortran && h.shape.len() > 1 {
        data = fortran_to_c(&data, &h.shape, dt.itemsize() as usize);
    }
    Ok(Loaded::Raw {
        dtype: dt.str(),
        shape: h.shape.clone(),
        data,
    })
}

/// Writes `a` to `out` as `.npy`.
pub fn export(a: &mmpk::Array, out: &str) -> Result<u64, Failure> {
    let (dtype, _) = ui::dtype_strs(a);
    let nbytes = a.info().nbytes;
    let pb = ui::bytes_bar(if nbytes >= ui::LARGE { nbytes } else { 0 }, "export");
    let file = File::create(out).map_err(|e| fail(out, &e))?;
    let mut w = BufWriter::with_capacity(1 << 20, pb.wrap_write(file));
    macro_rules! typed {
        ($t:ty) => {{
            let r = match a.view::<$t>() {
                Ok(v) => v.write_npy(&mut w),
                Err(_) => a
                    .to_owned::<$t>()
                    .map_err(|e| fail(out, &e))?
                    .write_npy(&mut w),
            };
            r.map_err(|e| fail(out, &e))?;
        }};
    }
    let elem = if native(&dtype) {
        Elem::of(&dtype)
    } else {
        Elem::Other
    };
    by_elem!(elem, typed, {
        let py = ui::dtype_descr_py(a);
        w.write_all(&header_bytes(&py, a.shape()))
            .and_then(|_| w.write_all(a.bytes()))
            .map_err(|e| fail(out, &e))?;
    });
    w.flush().map_err(|e| fail(out, &e))?;
    pb.finish_and_clear();
    Ok(nbytes)
}

/// Writes a structured (or other unmapped) array given by its descr (as
/// Python text), shape and C-order bytes.
pub fn export_raw(descr_py: &str, shape: &[usize], data: &[u8], out: &str) -> Result<(), Failure> {
    let mut w = BufWriter::new(File::create(out).map_err(|e| fail(out, &e))?);
    w.write_all(&header_bytes(descr_py, shape))
        .and_then(|_| w.write_all(data))
        .and_then(|_| w.flush())
        .map_err(|e| fail(out, &e))
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
    fn fortran_order_is_transposed() {
        // [[1, 2, 3], [4, 5, 6]] in Fortran order: 1 4 2 5 3 6.
        let f = [1u8, 4, 2, 5, 3, 6];
        assert_eq!(fortran_to_c(&f, &[2, 3], 1), vec![1, 2, 3, 4, 5, 6]);
    }
}
