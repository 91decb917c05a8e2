//! The checked description, owned: what the checker produces, what
//! `describe` shows (as text, Graphviz or JSON) and what [`System::encode`]
//! compiles into the boot image. Describing and booting read this one value,
//! so what `describe` shows is what the root task gets.
//!
//! Its types mirror the compiled ones in [`crate::image`] field for field,
//! with `String` and `Vec` for borrowed strings and tables; the items that
//! borrow nothing are the image's own types.

use crate::image;
pub use crate::image::{
    Cap, ChannelKind, MapRights, Mapped, Mapping, Object, PhysRange, PortRange, Restart, Rights,
    Sender, Then, Window,
};
use serde::{Deserialize, Serialize};

/// A checked system description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    pub schema: u32,
    pub machine_memory: u64,
    pub major_frame_ns: u64,
    pub partitions: Vec<Partition>,
    pub windows: Vec<Window>,
    pub domains: Vec<Domain>,
    pub channels: Vec<Channel>,
    pub regions: Vec<Region>,
    pub guests: Vec<Guest>,
}

/// See [`image::Partition`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub name: String,
    pub description: Option<String>,
}

/// See [`image::Domain`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub name: String,
    pub description: Option<String>,
    pub program: String,
    pub partition: u16,
    pub priority: u8,
    pub max_priority: u8,
    pub group: Option<String>,
    pub restart: Restart,
    pub stack_top: u64,
    pub stack_size: u64,
    pub ipc_buffer: u64,
    pub memory: u64,
    pub cnode_radix: u8,
    pub first_free_slot: u32,
    pub caps: Vec<Cap>,
    pub maps: Vec<Mapping>,
}

/// See [`image::InterfaceRef`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceRef {
    pub name: String,
    pub ordinal: u16,
    pub version: u16,
}

/// See [`image::Channel`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub name: String,
    pub description: Option<String>,
    pub kind: ChannelKind,
    pub interface: Option<InterfaceRef>,
    pub server: u16,
    pub senders: Vec<Sender>,
    pub allow_priority_inversion: bool,
}

/// See [`image::Region`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub name: String,
    pub description: Option<String>,
    pub size: u64,
}

/// See [`image::Guest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    pub name: String,
    pub description: Option<String>,
    pub vmm: u16,
    pub partition: u16,
    pub memory: u64,
    pub kernel: String,
    pub priority: u8,
    pub stack_size: u64,
    pub asid_first: u16,
    pub asid_count: u16,
    pub cnode_radix: u8,
    pub restart: Restart,
    pub inject_fault_ns: u64,
    pub irqs: Vec<u8>,
    pub io_ports: Vec<PortRange>,
    pub device_memory: Vec<PhysRange>,
}

impl System {
    /// Every program the boot image must hold: each domain's and each
    /// guest's kernel, once each, in the order they are named.
    pub fn programs(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        let all = self.domains.iter().map(|d| d.program.as_str());
        for name in all.chain(self.guests.iter().map(|g| g.kernel.as_str())) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// A table's count and item bytes.
struct Encoded {
    count: u32,
    bytes: Vec<u8>,
}

impl Encoded {
    fn of<T: Serialize>(items: impl IntoIterator<Item = T>) -> postcard::Result<Self> {
        let mut bytes = Vec::new();
        let mut count = 0u32;
        for item in items {
            bytes.extend(postcard::to_stdvec(&item)?);
            count += 1;
        }
        Ok(Encoded { count, bytes })
    }

    fn table<T>(&self) -> image::Table<'_, T> {
        image::Table::from_raw(self.count, &self.bytes)
    }
}

impl System {
    /// The compiled form: header and postcard payload (see [`crate::image`]).
    pub fn encode(&self) -> postcard::Result<Vec<u8>> {
        let partitions = Encoded::of(self.partitions.iter().map(|p| image::Partition {
            name: &p.name,
            description: p.description.as_deref(),
        }))?;
        let windows = Encoded::of(self.windows.iter())?;

        let domain_tables = self
            .domains
            .iter()
            .map(|d| Ok((Encoded::of(d.caps.iter())?, Encoded::of(d.maps.iter())?)))
            .collect::<postcard::Result<Vec<_>>>()?;
        let domains = Encoded::of(self.domains.iter().zip(&domain_tables).map(
            |(d, (caps, maps))| image::Domain {
                name: &d.name,
                description: d.description.as_deref(),
                program: &d.program,
                partition: d.partition,
                priority: d.priority,
                max_priority: d.max_priority,
                group: d.group.as_deref(),
                restart: d.restart,
                stack_top: d.stack_top,
                stack_size: d.stack_size,
                ipc_buffer: d.ipc_buffer,
                memory: d.memory,
                cnode_radix: d.cnode_radix,
                first_free_slot: d.first_free_slot,
                caps: caps.table(),
                maps: maps.table(),
            },
        ))?;

        let senders = self
            .channels
            .iter()
            .map(|c| Encoded::of(c.senders.iter()))
            .collect::<postcard::Result<Vec<_>>>()?;
        let channels =
            Encoded::of(
                self.channels
                    .iter()
                    .zip(&senders)
                    .map(|(c, senders)| image::Channel {
                        name: &c.name,
                        description: c.description.as_deref(),
                        kind: c.kind,
                        interface: c.interface.as_ref().map(|i| image::InterfaceRef {
                            name: &i.name,
                            ordinal: i.ordinal,
                            version: i.version,
                        }),
                        server: c.server,
                        senders: senders.table(),
                        allow_priority_inversion: c.allow_priority_inversion,
                    }),
            )?;

        let regions = Encoded::of(self.regions.iter().map(|r| image::Region {
            name: &r.name,
            description: r.description.as_deref(),
            size: r.size,
        }))?;

        let guest_tables = self
            .guests
            .iter()
            .map(|g| {
                Ok((
                    Encoded::of(g.irqs.iter())?,
                    Encoded::of(g.io_ports.iter())?,
                    Encoded::of(g.device_memory.iter())?,
                ))
            })
            .collect::<postcard::Result<Vec<_>>>()?;
        let guests = Encoded::of(self.guests.iter().zip(&guest_tables).map(
            |(g, (irqs, ports, device))| image::Guest {
                name: &g.name,
                description: g.description.as_deref(),
                vmm: g.vmm,
                partition: g.partition,
                memory: g.memory,
                kernel: &g.kernel,
                priority: g.priority,
                stack_size: g.stack_size,
                asid_first: g.asid_first,
                asid_count: g.asid_count,
                cnode_radix: g.cnode_radix,
                restart: g.restart,
                inject_fault_ns: g.inject_fault_ns,
                irqs: irqs.table(),
                io_ports: ports.table(),
                device_memory: device.table(),
            },
        ))?;

        let system = image::System {
            schema: self.schema,
            machine_memory: self.machine_memory,
            major_frame_ns: self.major_frame_ns,
            partitions: partitions.table(),
            windows: windows.table(),
            domains: domains.table(),
            channels: channels.table(),
            regions: regions.table(),
            guests: guests.table(),
        };
        let payload = postcard::to_stdvec(&system)?;
        let mut out = image::header(&payload).to_vec();
        out.extend(payload);
        Ok(out)
    }

    /// The owned form of a decoded image (what the root task will see).
    pub fn from_image(s: &image::System<'_>) -> Self {
        let text = |t: Option<&str>| t.map(str::to_string);
        System {
            schema: s.schema,
            machine_memory: s.machine_memory,
            major_frame_ns: s.major_frame_ns,
            partitions: s
                .partitions
                .iter()
                .map(|p| Partition {
                    name: p.name.into(),
                    description: text(p.description),
                })
                .collect(),
            windows: s.windows.iter().collect(),
            domains: s
                .domains
                .iter()
                .map(|d| Domain {
                    name: d.name.into(),
                    description: text(d.description),
                    program: d.program.into(),
                    partition: d.partition,
                    priority: d.priority,
                    max_priority: d.max_priority,
                    group: text(d.group),
                    restart: d.restart,
                    stack_top: d.stack_top,
                    stack_size: d.stack_size,
                    ipc_buffer: d.ipc_buffer,
                    memory: d.memory,
                    cnode_radix: d.cnode_radix,
                    first_free_slot: d.first_free_slot,
                    caps: d.caps.iter().collect(),
                    maps: d.maps.iter().collect(),
                })
                .collect(),
            channels: s
                .channels
                .iter()
                .map(|c| Channel {
                    name: c.name.into(),
                    description: text(c.description),
                    kind: c.kind,
                    interface: c.interface.map(|i| InterfaceRef {
                        name: i.name.into(),
                        ordinal: i.ordinal,
                        version: i.version,
                    }),
                    server: c.server,
                    senders: c.senders.iter().collect(),
                    allow_priority_inversion: c.allow_priority_inversion,
                })
                .collect(),
            regions: s
                .regions
                .iter()
                .map(|r| Region {
                    name: r.name.into(),
                    description: text(r.description),
                    size: r.size,
                })
                .collect(),
            guests: s
                .guests
                .iter()
                .map(|g| Guest {
                    name: g.name.into(),
                    description: text(g.description),
                    vmm: g.vmm,
                    partition: g.partition,
                    memory: g.memory,
                    kernel: g.kernel.into(),
                    priority: g.priority,
                    stack_size: g.stack_size,
                    asid_first: g.asid_first,
                    asid_count: g.asid_count,
                    cnode_radix: g.cnode_radix,
                    restart: g.restart,
                    inject_fault_ns: g.inject_fault_ns,
                    irqs: g.irqs.iter().collect(),
                    io_ports: g.io_ports.iter().collect(),
                    device_memory: g.device_memory.iter().collect(),
                })
                .collect(),
        }
    }

    /// The description as pretty JSON (`describe --json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Read what [`System::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The domain at `index`'s name, or `?` (only for hand-made models).
    pub fn domain_name(&self, index: u16) -> &str {
        self.domains
            .get(usize::from(index))
            .map_or("?", |d| d.name.as_str())
    }

    /// The partition at `index`'s name, or `?`.
    pub fn partition_name(&self, index: u16) -> &str {
        self.partitions
            .get(usize::from(index))
            .map_or("?", |p| p.name.as_str())
    }
}
