//! Every key buildkit.toml can hold, as the parser knows it: the fields of the raw tables
//! (read from their `Deserialize` impls, so a key added to a table is listed without anyone
//! remembering to) and the keys of `[cache]`. The book's coverage test reads this list.

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::cache::CacheBackend;
use super::cache_table::CacheKey;
use super::raw::{
    RawCi, RawDevcontainer, RawLinker, RawLld, RawManifest, RawTool, RawToolchain, RawTools,
};
use super::source::RawBuildkit;

/// `(table, key)` for every key: `("toolchain", "rust")`, `("tools.mold", "url")`, …
pub(crate) fn known_keys() -> Vec<(String, &'static str)> {
    let mut keys = Vec::new();
    let mut table = |name: &str, fields: &[&'static str]| {
        keys.extend(fields.iter().map(|field| (name.to_string(), *field)));
    };
    table("", fields::<RawManifest>());
    table("toolchain", fields::<RawToolchain>());
    table("linker", fields::<RawLinker>());
    for tool in fields::<RawTools>() {
        if *tool == "lld" {
            table("tools.lld", fields::<RawLld>());
        } else {
            table(&format!("tools.{tool}"), fields::<RawTool>());
        }
    }
    table("ci", fields::<RawCi>());
    table("devcontainer", fields::<RawDevcontainer>());
    table("buildkit", fields::<RawBuildkit>());
    let cache: Vec<&'static str> = CacheKey::ALL
        .iter()
        .map(|key| key.name())
        .chain(
            CacheBackend::ALL
                .iter()
                .flat_map(|backend| backend.settings().iter().map(|(key, _)| *key)),
        )
        .collect();
    table("cache", &cache);
    keys.sort();
    keys.dedup();
    keys
}

/// The field names serde's derive hands to `deserialize_struct`.
fn fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut seen = None;
    let _ = T::deserialize(FieldNames(&mut seen));
    seen.expect("a struct deserializes through deserialize_struct")
}

struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names read")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = Some(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
