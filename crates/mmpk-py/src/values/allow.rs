//! The allowlist: the globals a stored value may name without
//! `trusted=True`, and what each one means to the safe decoder.
//!
//! A name here is never imported because a file named it: each entry maps
//! a (module, qualified name) pair read from the file to a constructor
//! chosen by mmpk (see `build.rs`), and the few classes a value may hold
//! as such (a `defaultdict`'s factory, `pickle.dumps(int)`) are imported
//! from this fixed table, by mmpk's own strings.

/// What an allowlisted global is to the safe decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Known {
    /// `datetime.date(bytes4)`
    Date,
    /// `datetime.time(bytes6[, tzinfo])`
    Time,
    /// `datetime.datetime(bytes10[, tzinfo])`
    DateTime,
    /// `datetime.timedelta(days, seconds, microseconds)`
    TimeDelta,
    /// `datetime.timezone(offset[, name])`
    TimeZone,
    /// `decimal.Decimal(text)`
    Decimal,
    /// `builtins.complex(real, imag)`
    Complex,
    /// `builtins.slice(start, stop, step)`
    Slice,
    /// `builtins.range(start, stop, step)`
    Range,
    /// `uuid.UUID` made by NEWOBJ with state `{'int': n[, 'is_safe': v]}`
    Uuid,
    /// `collections.OrderedDict()` + SETITEMS
    OrderedDict,
    /// `collections.defaultdict(factory)` + SETITEMS
    DefaultDict,
    /// `collections.Counter(dict)`
    Counter,
    /// `collections.deque(iterable, maxlen)` + APPENDS
    Deque,
    /// `numpy.core.multiarray.scalar(dtype, bytes)` (either major's module)
    NumpyScalar,
    /// `numpy.dtype(typestr, align, copy)` + BUILD
    NumpyDtype,
    /// A numpy name used by numpy's array pickles: `mmpk_format::numpy`
    /// folds those it understands into array nodes before building; a use
    /// left unfolded (an object array, say) is not rebuilt.
    NumpyArrayPart,
}

/// The builtin types (and allowlisted classes) a value may hold as a value:
/// `(module, name)` as the file spells them (Python 3 names; Python 2 names
/// are mapped first), the same pair imported.
const VALUE_TYPES: &[(&str, &str)] = &[
    ("builtins", "bool"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bytearray"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "dict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "object"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("collections", "Counter"),
    ("collections", "deque"),
    ("datetime", "date"),
    ("datetime", "time"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("uuid", "UUID"),
];

/// The allowlisted type `(module, name)` as a value, if it is one: the
/// static pair to import.
pub(super) fn value_type(module: &[u8], name: &[u8]) -> Option<(&'static str, &'static str)> {
    VALUE_TYPES
        .iter()
        .find(|(m, n)| m.as_bytes() == module && n.as_bytes() == name)
        .copied()
}

/// What the global `(module, name)` is when called (REDUCE) or
/// instantiated (NEWOBJ), if it is allowlisted.
pub(super) fn callable(module: &[u8], name: &[u8]) -> Option<Known> {
    let numpy_core = |sub: &str| {
        [b"numpy.core.".as_slice(), b"numpy._core.".as_slice()]
            .iter()
            .any(|p| {
                module.len() == p.len() + sub.len()
                    && module.starts_with(p)
                    && module.ends_with(sub.as_bytes())
            })
    };
    Some(match (module, name) {
        (b"datetime", b"date") => Known::Date,
        (b"datetime", b"time") => Known::Time,
        (b"datetime", b"datetime") => Known::DateTime,
        (b"datetime", b"timedelta") => Known::TimeDelta,
        (b"datetime", b"timezone") => Known::TimeZone,
        (b"decimal", b"Decimal") => Known::Decimal,
        (b"builtins", b"complex") => Known::Complex,
        (b"builtins", b"slice") => Known::Slice,
        (b"builtins", b"range") => Known::Range,
        (b"uuid", b"UUID") => Known::Uuid,
        (b"collections", b"OrderedDict") => Known::OrderedDict,
        (b"collections", b"defaultdict") => Known::DefaultDict,
        (b"collections", b"Counter") => Known::Counter,
        (b"collections", b"deque") => Known::Deque,
        (b"numpy", b"dtype") => Known::NumpyDtype,
        (_, b"dtype") if numpy_core("multiarray") => Known::NumpyDtype,
        (_, b"scalar") if numpy_core("multiarray") => Known::NumpyScalar,
        (_, b"_reconstruct" | b"ndarray" | b"frombuffer" | b"fromstring")
            if numpy_core("multiarray") =>
        {
            Known::NumpyArrayPart
        }
        (_, b"_frombuffer") if numpy_core("numeric") => Known::NumpyArrayPart,
        (_, b"reshape") if numpy_core("fromnumeric") => Known::NumpyArrayPart,
        (b"numpy", b"ndarray" | b"frombuffer" | b"fromstring" | b"reshape") => {
            Known::NumpyArrayPart
        }
        (b"numpy.ma.core" | b"numpy.ma", b"_mareconstruct" | b"MaskedArray") => {
            Known::NumpyArrayPart
        }
        _ => return None,
    })
}

/// Whether a global may appear at all in a safely decoded value (as a
/// callable or as a value); anything else is refused before building.
pub(super) fn allowed(module: &[u8], name: &[u8]) -> bool {
    callable(module, name).is_some() || value_type(module, name).is_some()
}
