//! Converting a plain pickled dict (`pickle.dump(d, f)`) into an mmpk file
//! in place (docs/format.md section 11): by rename for a path, by copying
//! back for a file that is already open.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use mmpk_format::generic::encode_node_value;
use mmpk_format::numpy::resolve_numpy;
use pickle_ops::value::Dtype as NodeDtype;
use pickle_ops::{NodeId, Pickle, Value as PV};

use crate::dict::{check_key, Dict, OpenOptions};
use crate::error::{Error, Result};
use crate::value::insert_generic_locked;

impl OpenOptions {
    /// Converts the plain pickled dict at `path` (any protocol; keys must be
    /// str of at most 255 UTF-8 bytes) into an mmpk file, then opens it with
    /// these options. Top-level numpy arrays and masked arrays (numpy's own
    /// pickles, mmappickle's, or mmpk's) become mapped array entries; every
    /// other value is stored as its pickle. Nothing in the file runs.
    ///
    /// The new file is written beside the original and renamed over it once
    /// complete and synced: until then the original is untouched and
    /// readable, and a crash leaves it as it was. An mmpk file is just
    /// opened. Anything that is not a pickled dict gives an error and is
    /// left unchanged.
    ///
    /// With [`OpenOptions::durable`], the directory is synced after the
    /// rename, so that once this returns a power cut leaves the new file.
    ///
    /// # Safety
    /// As [`OpenOptions::open`], for the converted file.
    pub unsafe fn convert(&self, path: impl AsRef<Path>) -> Result<Dict> {
        self.convert_accepted(path.as_ref(), path.as_ref())
    }

    /// Converts the plain pickled dict at `input` into a new mmpk file at
    /// `output`, which must not exist, and opens it; `input` is not changed.
    /// As [`OpenOptions::convert`], the new file is written beside `output`
    /// and renamed to it once complete and synced, so a crash leaves no
    /// `output` or the complete one (never a partial file). An mmpk `input`
    /// is refused (copy it instead).
    ///
    /// # Safety
    /// As [`OpenOptions::open`], for the converted file.
    pub unsafe fn convert_to(
        &self,
        input: impl AsRef<Path>,
        output: impl AsRef<Path>,
    ) -> Result<Dict> {
        let output = output.as_ref();
        if std::fs::symlink_metadata(output).is_ok() {
            return Err(Error::Unsupported {
                what: format!("converting to {}: it exists", output.display()),
            });
        }
        self.convert_accepted(input.as_ref(), output)
    }

    /// Converts `input` into the mmpk file `path` (the same path, or a new
    /// one) by rename.
    fn convert_accepted(&self, input: &Path, path: &Path) -> Result<Dict> {
        let bytes = std::fs::read(input).map_err(|e| Error::io("read", input, e))?;
        if mmpk_format::header::parse_header(&bytes).is_ok() {
            if input != path {
                return Err(Error::Unsupported {
                    what: format!("converting {}: it is already an mmpk file", input.display()),
                });
            }
            return self.open_accepted(path);
        }
        let items = Items::parse(&bytes, input)?;
        drop(bytes);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.convert-{}", std::process::id()));
        let result = (|| {
            let mut o = self.clone();
            o.read_only(false)
                .create(false)
                .create_new(true)
                .durable(false); // one fsync of the whole file before the rename
            let d = o.open_accepted(&tmp)?;
            items.write(&d)?;
            crate::io::sync_all(&d.shared.file()).map_err(|e| Error::io("fsync", &tmp, e))?;
            drop(d);
            crate::io::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
            if self.is_durable() {
                // The rename itself must survive a power cut.
                crate::io::sync_parent_dir(path)
                    .map_err(|e| Error::io("fsync directory", path, e))?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        let mut o = self.clone();
        o.create(false).create_new(false);
        o.open_accepted(path)
    }

    /// [`OpenOptions::convert`] for a file that is already open (read and
    /// write), converted in place, then opened as with
    /// [`OpenOptions::open_file`] (`name` is for messages only). An mmpk
    /// file is just opened; anything that is not a pickled dict gives an
    /// error and is left unchanged.
    ///
    /// The converted dict is first written to an unlinked temporary file in
    /// the system's temporary directory (`TMPDIR`, which needs room for
    /// it), then copied over the original from its first byte, and the
    /// original is cut to its length. Not crash-safe: a process killed
    /// during that copy leaves a file that is neither the old pickle nor a
    /// complete mmpk file (mmappickle 1.0's conversion, which also works in
    /// place, has the same window). Open by path for a conversion that
    /// survives a crash.
    ///
    /// # Safety
    /// As [`OpenOptions::open`], for the file `file` refers to.
    pub unsafe fn convert_file(&self, file: File, name: impl AsRef<Path>) -> Result<Dict> {
        let name = name.as_ref();
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", name, e))?
            .len();
        let len = usize::try_from(len).map_err(|_| Error::Unsupported {
            what: format!("converting {}: the file is too large", name.display()),
        })?;
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| Error::io("read", name, e))?;
        let mut o = self.clone();
        o.create(false).create_new(false);
        if mmpk_format::header::parse_header(&bytes).is_ok() {
            return o.open_file_accepted(file, name);
        }
        if self.is_read_only() {
            return Err(Error::ReadOnly { op: "convert" });
        }
        let items = Items::parse(&bytes, name)?;
        drop(bytes);
        let tmp = unlinked_temp_file()
            .map_err(|e| Error::io("create temporary file", &std::env::temp_dir(), e))?;
        {
            let mut t = self.clone();
            t.read_only(false)
                .create(true)
                .create_new(false)
                .durable(false);
            let copy = tmp
                .try_clone()
                .map_err(|e| Error::io("dup", &std::env::temp_dir(), e))?;
            let d = t.open_file_accepted(copy, name)?;
            items.write(&d)?;
        }
        crate::inplace::copy_over(&tmp, &file)
            .map_err(|e| Error::io("convert: copy back", name, e))?;
        o.open_file_accepted(file, name)
    }
}

/// A new file in the system's temporary directory whose name is already
/// removed: it lives as long as its handles.
fn unlinked_temp_file() -> std::io::Result<File> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!(".mmpk-convert-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => {
                std::fs::remove_file(&p)?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A plain pickled dict, decoded (nothing run), its keys checked.
struct Items {
    raw: Pickle,
    resolved: Pickle,
    keys: Vec<String>,
    values: Vec<NodeId>,
}

impl Items {
    /// Decodes `bytes` (of the file `path`, for messages).
    fn parse(bytes: &[u8], path: &Path) -> Result<Items> {
        let bad = |what: String| Error::Unsupported {
            what: format!("converting {}: {what}", path.display()),
        };
        let raw = pickle_ops::decode::decode(bytes, &Default::default())
            .map_err(|e| bad(format!("not a pickle ({e})")))?;
        // Python 2 / protocol 2 forms (`_codecs.encode` bytes, ...) first,
        // then numpy's pickles; node ids stay those of `raw`.
        let mut resolved = raw.clone();
        let budget = pickle_ops::decode::DecodeOptions::default().max_compare_work;
        pickle_ops::resolve::resolve(&mut resolved, budget)
            .map_err(|e| bad(format!("cannot resolve the pickle ({e:?})")))?;
        resolve_numpy(&mut resolved, &[]);
        let PV::Dict(items) = &*raw.value(raw.root()) else {
            return Err(bad("the pickle is not a dict".into()));
        };
        let items = items.clone();
        let mut keys = Vec::with_capacity(items.len());
        for (k, _) in &items {
            match &*raw.value(*k) {
                PV::Str(s) => {
                    let key = s
                        .as_str()
                        .ok_or_else(|| bad("a key holds a lone surrogate".into()))?
                        .to_string();
                    check_key(&key)?;
                    keys.push(key);
                }
                other => return Err(bad(format!("a key is a {}", other.kind_name()))),
            }
        }
        let values = items.iter().map(|(_, v)| *v).collect();
        Ok(Items {
            raw,
            resolved,
            keys,
            values,
        })
    }

    /// Inserts every item into `d`, in order.
    fn write(&self, d: &Dict) -> Result<()> {
        for (key, v) in self.keys.iter().zip(&self.values) {
            put(d, key, &self.raw, &self.resolved, *v)?;
        }
        Ok(())
    }
}

/// Writes one item: an array, a masked array, or the raw pickle of `v`.
fn put(d: &Dict, key: &str, raw: &Pickle, resolved: &Pickle, v: NodeId) -> Result<()> {
    let array = |id: NodeId| match &*resolved.value(id) {
        PV::NdArray(a) => match &a.dtype {
            NodeDtype::Str(s) => Some((s.clone(), a.shape.clone(), a.data.clone())),
            NodeDtype::Descr(_) => None,
        },
        _ => None,
    };
    let shape = |s: &[u64]| {
        s.iter()
            .map(|&x| usize::try_from(x).ok())
            .collect::<Option<Vec<_>>>()
    };
    match &*resolved.value(v) {
        PV::NdArray(_) => {
            if let Some((dt, sh, data)) = array(v) {
                if let Some(sh) = shape(&sh) {
                    match d.insert_bytes(key, &dt, &sh, &data) {
                        Ok(()) => return Ok(()),
                        // A failed write is the caller's; only an array
                        // mmpk cannot map falls back to its pickle.
                        Err(e @ Error::Io { .. }) => return Err(e),
                        Err(_) => {}
                    }
                }
            }
        }
        PV::MaskedArray { data, mask } => {
            if let (Some((dt, sh, bytes)), Some((_, msh, m))) = (array(*data), array(*mask)) {
                if let Some(sh) = shape(&sh) {
                    let n: usize = sh.iter().product();
                    // A 0-d mask: "nothing masked" (False) or "all masked".
                    let mask = if msh.len() == sh.len() {
                        Some(m)
                    } else if m == [0] {
                        None
                    } else {
                        Some(vec![1; n])
                    };
                    match d.insert_masked_bytes(key, &dt, &sh, &bytes, mask.as_deref()) {
                        Ok(()) => return Ok(()),
                        Err(e @ Error::Io { .. }) => return Err(e),
                        Err(_) => {}
                    }
                }
            }
        }
        _ => {}
    }
    // Anything else (and arrays mmpk cannot map): the value's own pickle.
    d.with_lock(|s, st| insert_generic_locked(s, st, key, |memo| encode_node_value(raw, v, memo)))
}
