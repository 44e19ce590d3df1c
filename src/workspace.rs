//! What a workspace's dependencies cost beyond its own code: crates compiled in more than one
//! version (each one compiled and linked again), and members that declare a dependency
//! directly that `[workspace.dependencies]` already pins (the way duplicates creep in).
//!
//! Read from `cargo metadata` (the resolved graph, offline) and the manifests (through the
//! `toml` crate), never by parsing Cargo.lock by hand. Pure: the metadata and the manifests'
//! text come in as values ([`crate::machine`] runs `cargo metadata`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;

use cargo_metadata::{Metadata, PackageId};

use crate::toolchain::RustVersion;

/// The highest `rust-version` a workspace member declares, with that member's name: the Rust
/// a pin must not go below.
pub fn highest_rust_version(metadata: &Metadata) -> Option<(String, RustVersion)> {
    metadata
        .workspace_packages()
        .into_iter()
        .filter_map(|p| {
            let v = p.rust_version.as_ref()?;
            let version = RustVersion {
                major: v.major,
                minor: v.minor,
                patch: Some(v.patch),
            };
            Some((p.name.to_string(), version))
        })
        .max_by(|a, b| a.1.cmp(&b.1))
}

/// A crate resolved in several versions, each with the chain that pulls it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub name: String,
    /// `version -> member -> … -> name version`.
    pub chains: BTreeMap<String, String>,
}

/// A member declaring `dependency` itself although `[workspace.dependencies]` has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    pub member: String,
    pub dependency: String,
}

/// Crates present in more than one version, with the shortest chain from a workspace member
/// to each version.
pub fn duplicates(metadata: &Metadata) -> Vec<Duplicate> {
    let Some(resolve) = &metadata.resolve else {
        return Vec::new();
    };
    let packages: HashMap<&PackageId, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let mut by_name: BTreeMap<&str, BTreeSet<&PackageId>> = BTreeMap::new();
    for node in &resolve.nodes {
        if let Some(package) = packages.get(&node.id) {
            by_name
                .entry(package.name.as_str())
                .or_default()
                .insert(&node.id);
        }
    }
    // Breadth-first from the members: the first path found to a package is a shortest one.
    let mut parent: HashMap<&PackageId, &PackageId> = HashMap::new();
    let mut queue: VecDeque<&PackageId> = metadata.workspace_members.iter().collect();
    let mut seen: BTreeSet<&PackageId> = metadata.workspace_members.iter().collect();
    let deps: HashMap<&PackageId, Vec<&PackageId>> = resolve
        .nodes
        .iter()
        .map(|n| (&n.id, n.deps.iter().map(|d| &d.pkg).collect()))
        .collect();
    while let Some(id) = queue.pop_front() {
        for dep in deps.get(id).into_iter().flatten() {
            if seen.insert(dep) {
                parent.insert(dep, id);
                queue.push_back(dep);
            }
        }
    }
    let label = |id: &PackageId| {
        packages
            .get(id)
            .map_or_else(|| id.repr.clone(), |p| format!("{} {}", p.name, p.version))
    };
    by_name
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(name, ids)| {
            let chains = ids
                .into_iter()
                .map(|id| {
                    let mut chain = vec![label(id)];
                    let mut at = id;
                    while let Some(up) = parent.get(at) {
                        chain.push(label(up));
                        at = up;
                    }
                    chain.reverse();
                    let version = packages
                        .get(id)
                        .map_or_else(String::new, |p| p.version.to_string());
                    (version, chain.join(" -> "))
                })
                .collect();
            Duplicate {
                name: name.to_string(),
                chains,
            }
        })
        .collect()
}

/// Members that declare, in any dependency table, a crate `[workspace.dependencies]` has,
/// without `workspace = true`. `read` gives a manifest's text.
pub fn bypasses(metadata: &Metadata, read: impl Fn(&Path) -> Option<String>) -> Vec<Bypass> {
    let root_manifest = metadata.workspace_root.join("Cargo.toml");
    let Some(root) = read(root_manifest.as_std_path()).and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return Vec::new();
    };
    let Some(pinned) = root
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for package in metadata.workspace_packages() {
        let Some(manifest) =
            read(package.manifest_path.as_std_path()).and_then(|t| t.parse::<toml::Table>().ok())
        else {
            continue;
        };
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(declared) = manifest.get(table).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, spec) in declared {
                let inherits = spec
                    .get("workspace")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false);
                let name = spec
                    .get("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(key);
                if !inherits && (pinned.contains_key(key) || pinned.contains_key(name)) {
                    found.push(Bypass {
                        member: package.name.to_string(),
                        dependency: key.clone(),
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| (&a.member, &a.dependency).cmp(&(&b.member, &b.dependency)));
    found.dedup();
    found
}
