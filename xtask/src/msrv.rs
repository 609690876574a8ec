//! `cargo xtask msrv`: every workspace crate's `rust-version` is true for
//! the locked dependencies.
//!
//! Only one toolchain exists on the development and CI machines, so the
//! declared minimum cannot be tested by building with it. Instead this
//! reads `cargo metadata --locked` and checks, for each workspace crate,
//! that every package it needs to build (its dependencies of every kind,
//! then theirs of the normal and build kinds, as locked in `Cargo.lock`)
//! declares a `rust-version` no newer than the crate's own. Packages that
//! declare none cannot be checked: they are counted and listed with
//! `--verbose`. Clippy's `incompatible_msrv` lint (workspace lints) covers
//! the other half: the crates' own code using std API newer than their
//! `rust-version`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

use crate::Ctx;

/// A `rust-version`, compared as (major, minor, patch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RustVersion(u64, u64, u64);

impl RustVersion {
    fn parse(s: &str) -> Option<RustVersion> {
        let mut it = s.split('.').map(|p| p.parse::<u64>());
        let major = it.next()?.ok()?;
        let minor = it.next().unwrap_or(Ok(0)).ok()?;
        let patch = it.next().unwrap_or(Ok(0)).ok()?;
        it.next()
            .is_none()
            .then_some(RustVersion(major, minor, patch))
    }
}

impl std::fmt::Display for RustVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One package of the metadata.
struct Package {
    name: String,
    version: String,
    rust_version: Option<RustVersion>,
}

/// One edge of the resolve graph: the dependency's id, and whether it is
/// a dev-dependency only.
struct Edge {
    to: String,
    dev_only: bool,
}

/// What the check found for one workspace crate.
#[derive(Debug, Default, PartialEq, Eq)]
struct Finding {
    /// Packages checked.
    checked: usize,
    /// Packages without a `rust-version` (name and version).
    unknown: BTreeSet<String>,
    /// (package, its rust-version, the path to it).
    too_new: Vec<(String, RustVersion, Vec<String>)>,
}

pub(crate) fn msrv(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let mut verbose = false;
    for a in args {
        match a.as_str() {
            "--verbose" | "-v" => verbose = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (usage: msrv [--verbose])"
                ))
            }
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&ctx.root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata --locked failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cannot parse cargo metadata's output: {e}"))?;
    let findings = check(&meta)?;
    let mut failed = false;
    for (crate_name, rv, f) in &findings {
        println!(
            "{crate_name} (rust-version {rv}): {} locked dependencies checked, {} declare none",
            f.checked,
            f.unknown.len()
        );
        if verbose && !f.unknown.is_empty() {
            let list: Vec<&str> = f.unknown.iter().map(String::as_str).collect();
            println!("  without rust-version: {}", list.join(", "));
        }
        for (dep, drv, path) in &f.too_new {
            failed = true;
            println!(
                "  TOO NEW: {dep} needs rust {drv} (via {})",
                path.join(" -> ")
            );
        }
    }
    if failed {
        Err(
            "some locked dependencies need a newer Rust than the crate's rust-version: \
             raise the crate's rust-version, or lock an older version of the dependency"
                .into(),
        )
    } else {
        Ok(())
    }
}

/// Checks every workspace member of `meta` (cargo metadata's JSON).
fn check(meta: &Value) -> Result<Vec<(String, RustVersion, Finding)>, String> {
    let bad = |what: &str| format!("unexpected cargo metadata output: {what}");
    let mut packages = HashMap::new();
    for p in meta["packages"]
        .as_array()
        .ok_or_else(|| bad("no packages"))?
    {
        let id = p["id"].as_str().ok_or_else(|| bad("package without id"))?;
        let rust_version = match p["rust_version"].as_str() {
            Some(s) => Some(RustVersion::parse(s).ok_or_else(|| bad("a bad rust_version"))?),
            None => None,
        };
        packages.insert(
            id.to_string(),
            Package {
                name: p["name"].as_str().unwrap_or("?").to_string(),
                version: p["version"].as_str().unwrap_or("?").to_string(),
                rust_version,
            },
        );
    }
    let mut graph: HashMap<String, Vec<Edge>> = HashMap::new();
    let nodes = meta["resolve"]["nodes"]
        .as_array()
        .ok_or_else(|| bad("no resolve graph"))?;
    for n in nodes {
        let id = n["id"].as_str().ok_or_else(|| bad("node without id"))?;
        let mut edges = Vec::new();
        for d in n["deps"].as_array().into_iter().flatten() {
            let to = d["pkg"].as_str().ok_or_else(|| bad("dep without pkg"))?;
            let kinds: Vec<&str> = d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| k["kind"].as_str().unwrap_or("normal"))
                .collect();
            edges.push(Edge {
                to: to.to_string(),
                dev_only: !kinds.is_empty() && kinds.iter().all(|&k| k == "dev"),
            });
        }
        graph.insert(id.to_string(), edges);
    }
    let mut out = Vec::new();
    for m in meta["workspace_members"]
        .as_array()
        .ok_or_else(|| bad("no workspace_members"))?
    {
        let id = m.as_str().ok_or_else(|| bad("member id"))?;
        let p = packages
            .get(id)
            .ok_or_else(|| bad("member not in packages"))?;
        let rv = p
            .rust_version
            .ok_or_else(|| format!("workspace crate {} declares no rust-version", p.name))?;
        out.push((p.name.clone(), rv, walk(id, rv, &packages, &graph)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Every package `root` needs to build (its own dev-dependencies included,
/// not those of its dependencies), checked against `rv`.
fn walk(
    root: &str,
    rv: RustVersion,
    packages: &HashMap<String, Package>,
    graph: &HashMap<String, Vec<Edge>>,
) -> Finding {
    let mut f = Finding::default();
    // Breadth first, so each reported path is a shortest one.
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([root]);
    let mut seen = BTreeSet::from([root]);
    while let Some(id) = queue.pop_front() {
        for e in graph.get(id).into_iter().flatten() {
            if e.dev_only && id != root {
                continue;
            }
            if !seen.insert(e.to.as_str()) {
                continue;
            }
            parent.insert(e.to.as_str(), id);
            queue.push_back(e.to.as_str());
            let Some(p) = packages.get(&e.to) else {
                continue;
            };
            f.checked += 1;
            match p.rust_version {
                None => {
                    f.unknown.insert(format!("{} {}", p.name, p.version));
                }
                Some(d) if d > rv => {
                    let mut path = vec![format!("{} {}", p.name, p.version)];
                    let mut at = id;
                    while at != root {
                        let q = &packages[at];
                        path.push(format!("{} {}", q.name, q.version));
                        at = parent[at];
                    }
                    path.push(packages[root].name.clone());
                    path.reverse();
                    f.too_new
                        .push((format!("{} {}", p.name, p.version), d, path));
                }
                Some(_) => {}
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(rv_dep: Option<&str>, dev: bool) -> Value {
        let kind = if dev { Value::from("dev") } else { Value::Null };
        serde_json::json!({
            "packages": [
                {"id": "a", "name": "a", "version": "0.1.0", "rust_version": "1.85"},
                {"id": "b", "name": "b", "version": "1.0.0", "rust_version": "1.80.1"},
                {"id": "c", "name": "c", "version": "2.0.0", "rust_version": rv_dep},
                {"id": "d", "name": "d", "version": "3.0.0", "rust_version": "1.99"},
            ],
            "workspace_members": ["a"],
            "resolve": {"nodes": [
                {"id": "a", "deps": [{"pkg": "b", "dep_kinds": [{"kind": kind}]}]},
                {"id": "b", "deps": [
                    {"pkg": "c", "dep_kinds": [{"kind": null}]},
                    // A dev-dependency of a dependency is never built.
                    {"pkg": "d", "dep_kinds": [{"kind": "dev"}]},
                ]},
                {"id": "c", "deps": []},
                {"id": "d", "deps": []},
            ]}
        })
    }

    #[test]
    fn versions_compare_numerically() {
        let v = |s| RustVersion::parse(s).unwrap();
        assert!(v("1.9") < v("1.10"));
        assert_eq!(v("1.85"), v("1.85.0"));
        assert!(v("1.85.1") > v("1.85"));
        assert!(RustVersion::parse("1.x").is_none());
        assert!(RustVersion::parse("1.2.3.4").is_none());
    }

    #[test]
    fn a_too_new_dependency_is_found_with_its_path() {
        for dev in [false, true] {
            let got = check(&meta(Some("1.86"), dev)).unwrap();
            let (name, rv, f) = &got[0];
            assert_eq!((name.as_str(), *rv), ("a", RustVersion(1, 85, 0)));
            assert_eq!(f.checked, 2, "d (a dev-dependency of b) is not needed");
            assert_eq!(f.too_new.len(), 1);
            assert_eq!(f.too_new[0].0, "c 2.0.0");
            assert_eq!(f.too_new[0].2, ["a", "b 1.0.0", "c 2.0.0"]);
        }
    }

    #[test]
    fn old_enough_and_undeclared_pass() {
        let got = check(&meta(Some("1.85.0"), false)).unwrap();
        assert!(got[0].2.too_new.is_empty());
        let got = check(&meta(None, false)).unwrap();
        assert!(got[0].2.too_new.is_empty());
        assert_eq!(got[0].2.unknown, BTreeSet::from(["c 2.0.0".to_string()]));
    }
}
