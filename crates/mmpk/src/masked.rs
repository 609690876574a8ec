//! Masked arrays (docs/format.md section 6): `MaskedArray(data, mask)`, both
//! parts mapped like plain arrays.

use mmpk_format::masked::{read_masked, MaskKind};
use mmpk_format::write::encode_masked;
use ndarray::{ArrayBase, ArrayD, Data, Dimension, IxDyn};

use crate::array::{array_info, Array};
use crate::dict::{Dict, Layout};
use crate::dtype::{self, Element};
use crate::error::{Error, Result};
use crate::write::NewEntry;

/// A stored masked array: its data and its mask, each a mapped [`Array`]
/// (the mask is `bool`, of the data's shape or 0-d).
#[derive(Debug)]
pub struct Masked {
    data: Array,
    mask: Array,
    kind: MaskKind,
}

impl Masked {
    /// The data.
    pub fn data(&self) -> &Array {
        &self.data
    }

    /// The mask as stored (the data's shape, or 0-d).
    pub fn mask(&self) -> &Array {
        &self.mask
    }

    /// What the mask means (per element, nothing masked, all masked).
    pub fn mask_kind(&self) -> MaskKind {
        self.kind
    }

    /// The mask with the data's shape (a 0-d mask broadcast).
    pub fn mask_owned(&self) -> Result<ArrayD<bool>> {
        let m = self.mask.to_owned::<bool>()?;
        let shape = IxDyn(self.data.shape());
        match self.kind {
            MaskKind::Elementwise => Ok(m),
            MaskKind::Nomask => Ok(ArrayD::from_elem(shape, false)),
            MaskKind::AllMasked => Ok(ArrayD::from_elem(shape, true)),
        }
    }
}

impl Dict {
    /// `key`'s masked array.
    pub fn masked(&self, key: &str) -> Result<Masked> {
        let (index, map, loc) = self.locate(key)?;
        self.masked_at(key, &index, map, &loc)
    }

    /// The masked array of the entry at `loc` (located under the lock by
    /// the caller; `index` and `map` cover it).
    pub(crate) fn masked_at(
        &self,
        key: &str,
        index: &crate::map::Map,
        map: std::sync::Arc<crate::map::Map>,
        loc: &crate::index::Loc,
    ) -> Result<Masked> {
        let m = read_masked(index.all(), loc.value_span()).map_err(|source| Error::NotAnArray {
            key: key.into(),
            source,
        })?;
        let info = |a: &mmpk_format::array::Array| array_info(key, loc, a);
        let (d, k) = (info(&m.data)?, info(&m.mask)?);
        Ok(Masked {
            data: self.array_handle(map.clone(), d)?,
            mask: self.array_handle(map, k)?,
            kind: m.mask_kind,
        })
    }

    /// Inserts (or replaces) `key` with a masked array: `mask` is one bool
    /// per element of `data`, or `None` for "nothing masked" (written as
    /// mmappickle 1.0 does, a 0-d `False` mask). Both are written in C
    /// order; the data is aligned in the v2 layout.
    pub fn insert_masked<A, S, D, S2>(
        &self,
        key: &str,
        data: &ArrayBase<S, D>,
        mask: Option<&ArrayBase<S2, D>>,
    ) -> Result<()>
    where
        A: Element,
        S: Data<Elem = A>,
        S2: Data<Elem = bool>,
        D: Dimension,
    {
        if let Some(m) = mask {
            if m.shape() != data.shape() {
                return Err(Error::ShapeMismatch {
                    key: Some(key.into()),
                    expected: Some(data.len() as u64),
                    found: m.len() as u64,
                });
            }
        }
        let raw: Vec<u8> = match data.as_slice() {
            Some(s) => bytemuck::cast_slice(s).to_vec(),
            None => data
                .iter()
                .flat_map(|x| bytemuck::bytes_of(x).iter().copied())
                .collect(),
        };
        let m: Option<Vec<u8>> = mask.map(|m| m.iter().map(|&b| u8::from(b)).collect());
        self.masked_entry_dtype(
            key,
            &A::dtype(),
            data.shape(),
            (&raw, m.as_deref()),
            self.layout(),
            None,
        )
        .map(|_| ())
    }

    /// [`Dict::insert_masked`] with raw data bytes (C order, the dtype's byte
    /// order) and a dtype string; `mask` is one byte (0 or 1) per element.
    pub fn insert_masked_bytes(
        &self,
        key: &str,
        dtype: &str,
        shape: &[usize],
        data: &[u8],
        mask: Option<&[u8]>,
    ) -> Result<()> {
        self.masked_entry_dtype(
            key,
            &dtype::parse(dtype)?,
            shape,
            (data, mask),
            self.layout(),
            None,
        )
        .map(|_| ())
    }

    /// Writes a masked array entry of `dt` and `shape` from its data and
    /// mask bytes; with `replaces`, only over the entry whose value is at
    /// that offset ([`Dict::replace_entry_if`]). `false`: not written.
    pub(crate) fn masked_entry_dtype(
        &self,
        key: &str,
        dt: &dtype::Dtype,
        shape: &[usize],
        (data, mask): (&[u8], Option<&[u8]>),
        layout: Layout,
        replaces: Option<u64>,
    ) -> Result<bool> {
        let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let enc = match layout {
            Layout::V2 => mmpk_format::array::Encoding::V2,
            Layout::Mmappickle1 => mmpk_format::array::Encoding::V1,
        };
        let mut value = Vec::with_capacity(data.len() + 256);
        let (d, _) =
            encode_masked(&mut value, enc, dt, &shape64, data, mask).map_err(|e| match e {
                mmpk_format::Error::SizeMismatch {
                    expected, found, ..
                } => Error::ShapeMismatch {
                    key: Some(key.into()),
                    expected: Some(expected),
                    found,
                },
                source => Error::Format {
                    key: Some(key.into()),
                    source,
                },
            })?;
        let suffix = value.split_off(d.end);
        let raw = value.split_off(d.start);
        let e = NewEntry {
            key,
            data_len: raw.len() as u64,
            prefix: value,
            data: Some(crate::write::RawData::Bytes(&raw)),
            suffix,
            memo_max: 0,
            align_data: enc == mmpk_format::array::Encoding::V2,
        };
        match replaces {
            None => self.insert_entry(e).map(|_| true),
            Some(at) => self.replace_entry_if(e, at).map(|w| w.is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_broadcast_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::dict::test_dict(&dir.path().join("m.mmpk"), Layout::V2);
        d.insert_masked_bytes("n", "<i2", &[3], &[1, 0, 2, 0, 3, 0], None)
            .unwrap();
        let m = d.masked("n").unwrap();
        assert_eq!(m.mask_kind(), MaskKind::Nomask);
        assert_eq!(m.mask().shape(), &[] as &[usize]);
        assert_eq!(m.mask_owned().unwrap().shape(), &[3]);
        assert!(matches!(
            d.insert_masked_bytes("x", "<i2", &[3], &[0; 5], None),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            d.insert_masked_bytes("x", "|O8", &[1], &[0; 8], None),
            Err(Error::UnsupportedDtype { .. })
        ));
    }
}
