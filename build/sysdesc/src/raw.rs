//! The description file as written: serde types with every unknown field
//! refused (`deny_unknown_fields`) and positions kept (`toml::Spanned`)
//! where a message may need to point.
//!
//! Fields the file must have are still `Option` here: a missing one is the
//! checker's to report, with the name of the table it is missing from and
//! what to write, and one missing field does not hide the other mistakes.

use crate::units::{Backoff, Duration, Size};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::fmt;
use toml::Spanned;

/// A TOML table of named entries (`[domains.server]`, `[domains.client]`),
/// in file order.
#[derive(Debug)]
pub struct Named<T>(pub Vec<(Spanned<String>, Spanned<T>)>);

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Named<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Named<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of named entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Named<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Named(entries))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub schema: Option<Spanned<i64>>,
    pub description: Option<String>,
    pub time: Option<Spanned<Time>>,
    #[serde(default)]
    pub partitions: Named<Partition>,
    #[serde(default)]
    pub domains: Named<Domain>,
    #[serde(default)]
    pub channels: Named<Channel>,
    #[serde(default)]
    pub regions: Named<Region>,
    #[serde(default)]
    pub guests: Named<Guest>,
}

/// `[time]`: the cyclic schedule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Time {
    pub major_frame: Option<Spanned<Duration>>,
    #[serde(default)]
    pub windows: Vec<Spanned<WindowSpec>>,
}

/// One window, in time order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub partition: Option<Spanned<String>>,
    /// Offset in the major frame; the previous window's end if left out.
    pub start: Option<Spanned<Duration>>,
    pub length: Option<Spanned<Duration>>,
}

/// `[partitions.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub description: Option<String>,
}

/// `[domains.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub description: Option<String>,
    pub program: Option<Spanned<String>>,
    pub partition: Option<Spanned<String>>,
    pub priority: Option<Spanned<i64>>,
    pub max_priority: Option<Spanned<i64>>,
    pub stack: Option<Spanned<Size>>,
    pub memory: Option<Spanned<Size>>,
    pub restart: Option<Spanned<RestartSpec>>,
    pub group: Option<Spanned<String>>,
    pub replies: Option<Spanned<i64>>,
    pub asids: Option<Spanned<i64>>,
    pub slots: Option<Spanned<i64>>,
    #[serde(default)]
    pub irqs: Vec<Spanned<i64>>,
    #[serde(default)]
    pub io_ports: Vec<Spanned<Ports>>,
    #[serde(default)]
    pub device_memory: Vec<Spanned<DeviceMemory>>,
}

/// `restart = { max = 3, within = "1s", backoff = "10ms..1s", then = "hold" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    pub max: Option<Spanned<i64>>,
    pub within: Option<Spanned<Duration>>,
    pub backoff: Option<Spanned<Backoff>>,
    pub then: Option<Spanned<ThenSpec>>,
}

/// What happens when the restarts run out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThenSpec {
    Hold,
    RestartGroup,
    Reboot,
}

/// `{ base = 0x3f8, count = 8 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    pub base: Option<Spanned<i64>>,
    pub count: Option<Spanned<i64>>,
}

/// `{ phys = 0xfebf0000, size = "4KiB", at = 0x8000_0000, rights = "rw" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceMemory {
    pub phys: Option<Spanned<u64>>,
    pub size: Option<Spanned<Size>>,
    pub at: Option<Spanned<u64>>,
    pub rights: Option<Spanned<RightsSpec>>,
}

/// How a domain maps memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum RightsSpec {
    #[serde(rename = "r")]
    Read,
    #[serde(rename = "rw")]
    ReadWrite,
    #[serde(rename = "rx")]
    ReadExecute,
}

/// Endpoint or notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindSpec {
    Endpoint,
    Notification,
}

/// `[channels.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub description: Option<String>,
    pub kind: Option<Spanned<KindSpec>>,
    pub interface: Option<Spanned<String>>,
    /// The receiving end: the server of an endpoint, the waiter of a
    /// notification.
    pub to: Option<Spanned<String>>,
    /// The ends that call or signal.
    #[serde(default)]
    pub from: Vec<Spanned<End>>,
    pub allow_priority_inversion: Option<Spanned<bool>>,
}

/// `{ domain = "client1", badge = 1 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    pub domain: Option<Spanned<String>>,
    pub badge: Option<Spanned<u64>>,
    pub grant: Option<Spanned<bool>>,
}

/// `[regions.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub description: Option<String>,
    pub size: Option<Spanned<Size>>,
    #[serde(default)]
    pub maps: Vec<Spanned<Map>>,
}

/// `{ domain = "client1", at = 0x4000_0000, rights = "rw" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Map {
    pub domain: Option<Spanned<String>>,
    pub at: Option<Spanned<u64>>,
    pub rights: Option<Spanned<RightsSpec>>,
}

/// `[guests.NAME]`: a guest kernel its vmm builds and supervises.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    pub description: Option<String>,
    pub vmm: Option<Spanned<String>>,
    pub partition: Option<Spanned<String>>,
    pub memory: Option<Spanned<Size>>,
    pub kernel: Option<Spanned<String>>,
    pub priority: Option<Spanned<i64>>,
    pub stack: Option<Spanned<Size>>,
    pub asids: Option<Spanned<i64>>,
    pub slots: Option<Spanned<i64>>,
    pub restart: Option<Spanned<RestartSpec>>,
    /// A test hook: the vmm injects a fault into the guest's kernel this
    /// long after starting its first generation.
    pub test_inject_fault: Option<Spanned<Duration>>,
    #[serde(default)]
    pub irqs: Vec<Spanned<i64>>,
    #[serde(default)]
    pub io_ports: Vec<Spanned<Ports>>,
    #[serde(default)]
    pub device_memory: Vec<Spanned<GuestDeviceMemory>>,
}

/// A guest's device memory: passed through at its physical address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestDeviceMemory {
    pub phys: Option<Spanned<u64>>,
    pub size: Option<Spanned<Size>>,
}
