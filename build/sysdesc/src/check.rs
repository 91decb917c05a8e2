//! The checker: from the file as written ([`crate::raw`]) to the checked
//! system ([`crate::model`]), reporting every problem it finds.
//!
//! It never stops at the first problem and never panics: each check that
//! fails adds a [`Diagnostic`] and the checks go on with what is known
//! (an entity whose name does not resolve is left out of the checks that
//! need it). A description with any error yields no system; warnings do not
//! stop it. docs/system-description.md lists every check.

use crate::diag::{Diagnostic, Span, suggestion};
use crate::image::{
    Cap, ChannelKind, MapRights, Mapped, Mapping, Object, PhysRange, PortRange, Restart, Rights,
    SCHEMA, Sender, Then, Window,
};
use crate::layout;
use crate::load::{self, Removed};
use crate::model;
use crate::raw;
use crate::units::{self, Size};
use toml::Spanned;

/// The machine memory a description is checked against unless told
/// otherwise: QEMU's `-m 256M`, which the build tool boots with.
pub const DEFAULT_MACHINE_MEMORY: u64 = 256 << 20;

/// An interface defined under `idl/` that a channel may name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownInterface {
    pub name: String,
    pub ordinal: u16,
    pub version: u16,
}

/// What the checker needs besides the file.
#[derive(Clone, Debug)]
pub struct Options {
    /// The machine's memory in bytes: quotas must fit in it.
    pub machine_memory: u64,
    /// The interfaces channels may carry.
    pub interfaces: Vec<KnownInterface>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            machine_memory: DEFAULT_MACHINE_MEMORY,
            interfaces: Vec::new(),
        }
    }
}

/// What checking a description found.
#[derive(Clone, Debug)]
pub struct Report {
    /// Every error and warning, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked system, if there was no error.
    pub system: Option<model::System>,
}

impl Report {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Every diagnostic, rendered (see [`crate::diag::render`]).
    pub fn render(&self, path: &str, text: &str, color: bool) -> String {
        crate::diag::render(path, text, &self.diagnostics, color)
    }
}

/// Check description `text`.
pub fn check(text: &str, options: &Options) -> Report {
    let mut diagnostics = Vec::new();
    let Some((file, removed)) = load::load(text, &mut diagnostics) else {
        return Report {
            diagnostics,
            system: None,
        };
    };
    let mut checker = Checker {
        options,
        diags: diagnostics,
        removed,
    };
    let system = checker.check(&file);
    let errors = checker.diags.iter().any(Diagnostic::is_error);
    // In file order, as a reader goes through the file; the sort is
    // stable, so findings at one place keep the order they were found in.
    let mut diagnostics = checker.diags;
    diagnostics.sort_by_key(|d| d.span.start);
    Report {
        diagnostics,
        system: if errors { None } else { system },
    }
}

struct Checker<'o> {
    options: &'o Options,
    diags: Vec<Diagnostic>,
    removed: Removed,
}

/// A partition, with what uses it.
struct Part {
    name: String,
    key: Span,
    description: Option<String>,
    windows: usize,
    users: usize,
}

/// A domain's own fields, checked.
struct Dom {
    name: String,
    key: Span,
    description: Option<String>,
    program: Option<String>,
    partition: Option<u16>,
    priority: Option<(u8, Span)>,
    max_priority: u8,
    stack: u64,
    memory: u64,
    memory_span: Span,
    restart: Restart,
    group: Option<String>,
    replies: Option<(u32, Span)>,
    asids: Option<(u32, Span)>,
    slots: Option<(u32, Span)>,
    irqs: Vec<(u8, Span)>,
    ports: Vec<(PortRange, Span)>,
    devices: Vec<Device>,
}

/// Device memory granted to a domain.
struct Device {
    range: PhysRange,
    at: Option<u64>,
    rights: MapRights,
    span: Span,
}

/// A channel, checked.
struct Chan {
    name: String,
    description: Option<String>,
    kind: Option<ChannelKind>,
    interface: Option<model::InterfaceRef>,
    server: Option<u16>,
    senders: Vec<Sender>,
    allow_priority_inversion: bool,
}

/// A region and where it is mapped.
struct Reg {
    name: String,
    key: Span,
    description: Option<String>,
    size: Option<u64>,
    maps: Vec<RegionMap>,
}

struct RegionMap {
    domain: u16,
    at: u64,
    rights: MapRights,
    span: Span,
}

/// Something granted once only: an IRQ, I/O ports, physical memory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grant {
    Irq(u8),
    Ports(PortRange),
    Phys(PhysRange),
}

impl Grant {
    fn clashes(&self, other: &Grant) -> bool {
        match (self, other) {
            (Grant::Irq(a), Grant::Irq(b)) => a == b,
            (Grant::Ports(a), Grant::Ports(b)) => a.first <= b.last && b.first <= a.last,
            (Grant::Phys(a), Grant::Phys(b)) => {
                a.phys < b.phys.saturating_add(b.size) && b.phys < a.phys.saturating_add(a.size)
            }
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Grant::Irq(line) => format!("IRQ {line}"),
            Grant::Ports(p) if p.first == p.last => format!("I/O port {:#x}", p.first),
            Grant::Ports(p) => format!("I/O ports {:#x}..={:#x}", p.first, p.last),
            Grant::Phys(r) => format!(
                "physical memory {:#x}..{:#x}",
                r.phys,
                r.phys.saturating_add(r.size)
            ),
        }
    }
}

fn names<T>(named: &raw::Named<T>) -> Vec<&str> {
    named.0.iter().map(|(k, _)| k.get_ref().as_str()).collect()
}

impl Checker<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Report a missing field, unless its value was already reported as wrong.
    fn missing(&mut self, table: &Span, key: &str, d: Diagnostic) {
        if !self.removed.contains(table, key) {
            self.push(d);
        }
    }

    fn check_name(&mut self, name: &str, span: &Span, what: &str) {
        if !layout::is_valid_name(name) {
            self.push(
                Diagnostic::error(
                    format!("`{name}` cannot name a {what}"),
                    span.clone(),
                    "not a valid name",
                )
                .with_help(format!(
                    "a name is 1 to {} characters of letters, digits, `.`, `_` and `-`",
                    layout::NAME_MAX
                )),
            );
        }
    }

    /// The index of the entity `name` refers to, or an error.
    fn resolve(&mut self, name: &Spanned<String>, what: &str, known: &[&str]) -> Option<u16> {
        let wanted = name.get_ref().as_str();
        match known.iter().position(|k| *k == wanted) {
            Some(i) => u16::try_from(i).ok(),
            None => {
                self.push(
                    Diagnostic::error(
                        format!("no {what} is named `{wanted}`"),
                        name.span(),
                        format!("not a {what}"),
                    )
                    .with_help(suggestion(wanted, &format!("{what}s"), known)),
                );
                None
            }
        }
    }

    fn int_in(&mut self, v: &Spanned<i64>, lo: i64, hi: i64, what: &str) -> Option<i64> {
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            Some(n)
        } else {
            self.push(
                Diagnostic::error(
                    format!("{what} {n} is out of range"),
                    v.span(),
                    format!("must be from {lo} to {hi}"),
                )
                .with_help(format!("use a {what} from {lo} to {hi}")),
            );
            None
        }
    }

    /// A size that must be whole pages (and non-zero unless `zero_ok`).
    fn pages(&mut self, v: &Spanned<Size>, what: &str, zero_ok: bool) -> Option<u64> {
        let n = v.get_ref().0;
        if !n.is_multiple_of(layout::PAGE) || (n == 0 && !zero_ok) {
            let up = n.div_ceil(layout::PAGE).max(1).saturating_mul(layout::PAGE);
            self.push(
                Diagnostic::error(
                    format!(
                        "{what} {} is not a whole number of 4KiB pages",
                        units::size(n)
                    ),
                    v.span(),
                    "not whole pages",
                )
                .with_help(format!("use {}", units::size(up))),
            );
            None
        } else {
            Some(n)
        }
    }

    fn page_address(&mut self, v: &Spanned<u64>, what: &str) -> Option<u64> {
        let a = *v.get_ref();
        if !a.is_multiple_of(layout::PAGE) {
            self.push(
                Diagnostic::error(
                    format!("{what} {a:#x} is not page-aligned"),
                    v.span(),
                    "not a multiple of 0x1000",
                )
                .with_help(format!("use {:#x}", a & !(layout::PAGE - 1))),
            );
            None
        } else {
            Some(a)
        }
    }

    fn rights(r: raw::RightsSpec) -> MapRights {
        match r {
            raw::RightsSpec::Read => MapRights::Read,
            raw::RightsSpec::ReadWrite => MapRights::ReadWrite,
            raw::RightsSpec::ReadExecute => MapRights::ReadExecute,
        }
    }

    fn ports(&mut self, p: &Spanned<raw::Ports>, owner: &str) -> Option<PortRange> {
        let span = p.span();
        let p = p.get_ref();
        let base = match &p.base {
            Some(b) => self.int_in(b, 0, 0xffff, "I/O port base"),
            None => {
                self.missing(
                    &span,
                    "base",
                    Diagnostic::error(
                        format!("I/O-port range of {owner} has no `base`"),
                        span.clone(),
                        "no base",
                    )
                    .with_help("write `{ base = 0x3f8, count = 8 }`"),
                );
                None
            }
        };
        let count = match &p.count {
            Some(c) => self.int_in(c, 1, 0x10000, "I/O port count"),
            None => {
                self.missing(
                    &span,
                    "count",
                    Diagnostic::error(
                        format!("I/O-port range of {owner} has no `count`"),
                        span.clone(),
                        "no count",
                    )
                    .with_help("write `{ base = 0x3f8, count = 8 }`"),
                );
                None
            }
        };
        let (base, count) = (base?, count?);
        let last = base + count - 1;
        if last > 0xffff {
            self.push(
                Diagnostic::error(
                    format!("I/O ports {base:#x} + {count} run past port 0xffff"),
                    span,
                    "past the last port",
                )
                .with_help(format!("use a count of at most {}", 0x10000 - base)),
            );
            return None;
        }
        Some(PortRange {
            first: base as u16,
            last: last as u16,
        })
    }

    fn phys(
        &mut self,
        span: &Span,
        phys: &Option<Spanned<u64>>,
        size: &Option<Spanned<Size>>,
        owner: &str,
    ) -> Option<PhysRange> {
        let base = match phys {
            Some(p) => self.page_address(p, "physical address"),
            None => {
                self.missing(
                    span,
                    "phys",
                    Diagnostic::error(
                        format!("device memory of {owner} has no `phys` address"),
                        span.clone(),
                        "no phys",
                    )
                    .with_help("add `phys = 0x...`, the device's physical address"),
                );
                None
            }
        };
        let bytes = match size {
            Some(s) => self.pages(s, "device memory size", false),
            None => {
                self.missing(
                    span,
                    "size",
                    Diagnostic::error(
                        format!("device memory of {owner} has no `size`"),
                        span.clone(),
                        "no size",
                    )
                    .with_help("add `size = \"4KiB\"`"),
                );
                None
            }
        };
        let (base, bytes) = (base?, bytes?);
        if base.checked_add(bytes).is_none_or(|end| end > 1 << 52) {
            self.push(Diagnostic::error(
                format!(
                    "device memory {base:#x} + {} lies past the 52-bit physical address space",
                    units::size(bytes)
                ),
                span.clone(),
                "no such physical address",
            ));
            return None;
        }
        Some(PhysRange {
            phys: base,
            size: bytes,
        })
    }

    fn check(&mut self, file: &raw::File) -> Option<model::System> {
        // The schema first: a description of another version would
        // otherwise produce errors that say little.
        match &file.schema {
            None if !self.removed.top("schema") => self.push(
                Diagnostic::error(
                    "the description has no `schema` version",
                    0..0,
                    "expected `schema = 1` here",
                )
                .with_help(format!("add `schema = {SCHEMA}` as the first line")),
            ),
            Some(s) if *s.get_ref() != i64::from(SCHEMA) => self.push(
                Diagnostic::error(
                    format!(
                        "schema version {} is not one this tool knows",
                        s.get_ref()
                    ),
                    s.span(),
                    "unknown version",
                )
                .with_help(format!(
                    "this tool reads schema {SCHEMA}; write `schema = {SCHEMA}` and the format of docs/system-description.md"
                )),
            ),
            _ => {}
        }

        let partition_names = names(&file.partitions);
        let domain_names = names(&file.domains);

        // Partitions.
        let mut parts: Vec<Part> = Vec::new();
        for (key, p) in &file.partitions.0 {
            self.check_name(key.get_ref(), &key.span(), "partition");
            parts.push(Part {
                name: key.get_ref().clone(),
                key: key.span(),
                description: p.get_ref().description.clone(),
                windows: 0,
                users: 0,
            });
        }

        // Time.
        let (major_frame, windows) = self.time(file, &partition_names, &mut parts);

        // Domains, their own fields first: channels need their priorities.
        let mut doms: Vec<Dom> = Vec::new();
        for (key, d) in &file.domains.0 {
            let dom = self.domain(key, d, &partition_names);
            if let Some(p) = dom.partition {
                parts[usize::from(p)].users += 1;
            }
            doms.push(dom);
        }

        // Channels.
        let mut chans: Vec<Chan> = Vec::new();
        for (key, c) in &file.channels.0 {
            let chan = self.channel(key, c, &domain_names, &doms);
            chans.push(chan);
        }

        // Regions.
        let mut regs: Vec<Reg> = Vec::new();
        for (key, r) in &file.regions.0 {
            let reg = self.region(key, r, &domain_names);
            regs.push(reg);
        }

        // Guests.
        let mut guests: Vec<model::Guest> = Vec::new();
        let mut guest_slots: Vec<u32> = Vec::new();
        let mut guest_grants: Vec<(Grant, Span, String)> = Vec::new();
        let mut guest_memory: Vec<(u64, Span, String)> = Vec::new();
        for (key, g) in &file.guests.0 {
            if let Some(guest) = self.guest(
                key,
                g,
                &domain_names,
                &doms,
                &partition_names,
                &mut parts,
                &mut guest_grants,
                &mut guest_memory,
            ) {
                if let Some(other) = guests.iter().find(|o| o.vmm == guest.0.vmm) {
                    self.push(
                        Diagnostic::error(
                            format!(
                                "guests `{}` and `{}` have the same vmm",
                                other.name, guest.0.name
                            ),
                            key.span(),
                            "the second",
                        )
                        .with_help("give each guest a vmm of its own, in the guest's partition"),
                    );
                }
                guests.push(guest.0);
                guest_slots.push(guest.1);
            }
        }

        self.grants_once(&doms, guest_grants);
        self.memory_fits(&doms, &regs, &guest_memory);
        self.schedule_covers(&parts, file);
        self.replies_used(&doms, &chans);

        // The address space and capability space of each domain.
        let mut domains = Vec::new();
        let mut asid_top = layout::ASIDS;
        for (index, dom) in doms.iter().enumerate() {
            // A vmm's pool holds its own ids, then one for its guest's
            // kernel, then its guest's.
            let hosted = guests.iter().position(|g| usize::from(g.vmm) == index);
            let extra = hosted.map_or(0, |gi| u32::from(guests[gi].asid_count) + 1);
            let asids = self.asid_range(dom, extra, &mut asid_top);
            let with = hosted.map(|gi| (gi, &guests[gi]));
            let Some(d) = self.layout(index, dom, asids, with, &chans, &regs) else {
                continue;
            };
            if let (Some(gi), Some((first, _))) = (hosted, asids) {
                let own = dom.asids.as_ref().map_or(0, |a| a.0);
                let ends = d.caps.iter().filter(|c| is_sender_end(c)).count() as u32;
                let g = &mut guests[gi];
                g.asid_first = (u32::from(first) + own + 1) as u16;
                let granted = layout::SLOT_FIRST_GRANT
                    + ends
                    + layout::untyped_pieces(g.memory).count() as u32;
                g.cnode_radix = layout::cnode_radix_for(granted.saturating_add(guest_slots[gi]));
                if g.cnode_radix > layout::MAX_CNODE_RADIX {
                    self.push(Diagnostic::error(
                        format!(
                            "guest `{}` needs more capability slots than a CNode holds",
                            g.name
                        ),
                        dom.key.clone(),
                        "its vmm",
                    ));
                }
            }
            domains.push(d);
        }

        for (name, count) in [
            ("partitions", parts.len()),
            ("domains", doms.len()),
            ("channels", chans.len()),
            ("regions", regs.len()),
        ] {
            if count > usize::from(u16::MAX) {
                self.push(Diagnostic::error(
                    format!(
                        "{count} {name}, more than the {} the compiled form can name",
                        u16::MAX
                    ),
                    0..0,
                    "",
                ));
            }
        }

        if self.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
        Some(model::System {
            schema: SCHEMA,
            machine_memory: self.options.machine_memory,
            major_frame_ns: major_frame?,
            partitions: parts
                .into_iter()
                .map(|p| model::Partition {
                    name: p.name,
                    description: p.description,
                })
                .collect(),
            windows,
            domains,
            channels: chans
                .into_iter()
                .map(|c| {
                    Some(model::Channel {
                        name: c.name,
                        description: c.description,
                        kind: c.kind?,
                        interface: c.interface,
                        server: c.server?,
                        senders: c.senders,
                        allow_priority_inversion: c.allow_priority_inversion,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
            regions: regs
                .into_iter()
                .map(|r| {
                    Some(model::Region {
                        name: r.name,
                        description: r.description,
                        size: r.size?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
            guests,
        })
    }

    fn time(
        &mut self,
        file: &raw::File,
        partition_names: &[&str],
        parts: &mut [Part],
    ) -> (Option<u64>, Vec<Window>) {
        let Some(time) = &file.time else {
            if !self.removed.top("time") {
                self.push(
                    Diagnostic::error(
                        "the description has no `[time]` schedule",
                        0..0,
                        "",
                    )
                    .with_help(
                        "add `[time]` with `major_frame = \"10ms\"` and `windows = [{ partition = \"A\", length = \"10ms\" }]`",
                    ),
                );
            }
            return (None, Vec::new());
        };
        let time_span = time.span();
        let time = time.get_ref();
        let frame = match &time.major_frame {
            Some(f) if f.get_ref().0 == 0 => {
                self.push(Diagnostic::error(
                    "the major frame is empty",
                    f.span(),
                    "zero",
                ));
                None
            }
            Some(f) => Some((f.get_ref().0, f.span())),
            None => {
                self.missing(
                    &time_span,
                    "major_frame",
                    Diagnostic::error("`[time]` has no `major_frame`", time_span.clone(), "")
                        .with_help(
                            "add `major_frame = \"10ms\"`: the length of one cycle of the schedule",
                        ),
                );
                None
            }
        };
        let mut windows = Vec::new();
        let mut previous: Option<(u64, Span)> = None;
        for w in &time.windows {
            let span = w.span();
            let spec = w.get_ref();
            let partition = match &spec.partition {
                Some(p) => self.resolve(p, "partition", partition_names),
                None => {
                    self.missing(
                        &span,
                        "partition",
                        Diagnostic::error(
                            "a window has no `partition`",
                            span.clone(),
                            "whose window?",
                        )
                        .with_help("add `partition = \"...\"`"),
                    );
                    None
                }
            };
            if let Some(p) = partition {
                parts[usize::from(p)].windows += 1;
            }
            let length = match &spec.length {
                Some(l) if l.get_ref().0 == 0 => {
                    self.push(Diagnostic::error(
                        "a window is empty",
                        l.span(),
                        "zero length",
                    ));
                    None
                }
                Some(l) => Some(l.get_ref().0),
                None => {
                    self.missing(
                        &span,
                        "length",
                        Diagnostic::error("a window has no `length`", span.clone(), "how long?")
                            .with_help("add `length = \"5ms\"`"),
                    );
                    None
                }
            };
            let start = match &spec.start {
                Some(s) => s.get_ref().0,
                None => previous.as_ref().map_or(0, |(end, _)| *end),
            };
            if let Some((end, prev_span)) = &previous
                && start < *end
            {
                self.push(
                    Diagnostic::error(
                        format!(
                            "this window starts at {}, before the previous one ends at {}",
                            units::time(start),
                            units::time(*end)
                        ),
                        spec.start.as_ref().map_or(span.clone(), Spanned::span),
                        "overlaps the previous window",
                    )
                    .with_secondary(prev_span.clone(), "the previous window")
                    .with_help(format!(
                        "windows are listed in time order and do not overlap: start it at {} or later",
                        units::time(*end)
                    )),
                );
            }
            let Some(length) = length else { continue };
            // An end past u64 is past any major frame.
            let end = start.saturating_add(length);
            if let Some((frame, frame_span)) = &frame
                && end > *frame
            {
                self.push(
                    Diagnostic::error(
                        format!(
                            "this window ends at {}, after the {} major frame",
                            units::time(end),
                            units::time(*frame)
                        ),
                        span.clone(),
                        "does not fit the major frame",
                    )
                    .with_secondary(frame_span.clone(), "the major frame")
                    .with_help("shorten the window or lengthen the major frame"),
                );
            }
            previous = Some((end.max(previous.as_ref().map_or(0, |p| p.0)), span.clone()));
            if let Some(partition) = partition {
                windows.push(Window {
                    partition,
                    start_ns: start,
                    length_ns: length,
                });
            }
        }
        (frame.map(|f| f.0), windows)
    }

    fn domain(
        &mut self,
        key: &Spanned<String>,
        d: &Spanned<raw::Domain>,
        partition_names: &[&str],
    ) -> Dom {
        let name = key.get_ref().clone();
        let table = d.span();
        let d = d.get_ref();
        self.check_name(&name, &key.span(), "domain");
        let who = format!("domain `{name}`");

        let program = match &d.program {
            Some(p) => {
                self.check_name(p.get_ref(), &p.span(), "program");
                Some(p.get_ref().clone())
            }
            None => {
                self.missing(
                    &table,
                    "program",
                    Diagnostic::error(format!("{who} has no `program`"), key.span(), "this domain")
                        .with_help("add `program = \"...\"`, the binary it runs"),
                );
                None
            }
        };

        let partition = match &d.partition {
            Some(p) => self.resolve(p, "partition", partition_names),
            None => {
                self.missing(
                    &table,
                    "partition",
                    Diagnostic::error(format!("{who} has no partition"), key.span(), "this domain")
                        .with_help(format!(
                            "add `partition = \"...\"`; {}",
                            suggestion("", "partitions", partition_names)
                        )),
                );
                None
            }
        };

        let priority = match &d.priority {
            Some(p) => self
                .int_in(p, 0, 255, "priority")
                .map(|v| (v as u8, p.span())),
            None => {
                self.missing(
                    &table,
                    "priority",
                    Diagnostic::error(
                        format!("{who} has no `priority`"),
                        key.span(),
                        "this domain",
                    )
                    .with_help("add `priority = N`, from 0 (lowest) to 255"),
                );
                None
            }
        };
        let max_priority = match &d.max_priority {
            Some(m) => match self.int_in(m, 0, 255, "maximum priority") {
                Some(v) => {
                    if let Some((p, p_span)) = &priority
                        && i64::from(*p) > v
                    {
                        self.push(
                            Diagnostic::error(
                                format!("{who} has priority {p}, above its maximum priority {v}"),
                                p_span.clone(),
                                "above the maximum",
                            )
                            .with_secondary(m.span(), "the maximum priority")
                            .with_help(format!(
                                "lower `priority` to {v} or raise `max_priority` to {p}"
                            )),
                        );
                    }
                    v as u8
                }
                None => priority.as_ref().map_or(0, |p| p.0),
            },
            None => priority.as_ref().map_or(0, |p| p.0),
        };

        let stack = match &d.stack {
            Some(s) => match self.pages(s, "stack size", false) {
                Some(v) if v > 256 << 20 => {
                    self.push(
                        Diagnostic::error(
                            format!(
                                "a stack of {} is larger than the 256MiB a domain may have",
                                units::size(v)
                            ),
                            s.span(),
                            "too large",
                        )
                        .with_help("give the domain memory of its own instead"),
                    );
                    layout::DEFAULT_STACK
                }
                Some(v) => v,
                None => layout::DEFAULT_STACK,
            },
            None => layout::DEFAULT_STACK,
        };
        let (memory, memory_span) = match &d.memory {
            Some(m) => (self.pages(m, "memory quota", true).unwrap_or(0), m.span()),
            None => (0, key.span()),
        };

        let restart = match &d.restart {
            Some(r) => self.restart(r, &who, d.group.is_some()),
            None => Restart::NEVER,
        };
        let group = d.group.as_ref().map(|g| {
            self.check_name(g.get_ref(), &g.span(), "group");
            g.get_ref().clone()
        });
        let replies = d.replies.as_ref().and_then(|r| {
            self.int_in(r, 0, 64, "reply count")
                .map(|v| (v as u32, r.span()))
        });

        let asids = d.asids.as_ref().and_then(|r| {
            self.int_in(r, 1, i64::from(layout::MAX_DOMAIN_ASIDS), "ASID count")
                .map(|v| (v as u32, r.span()))
        });
        let slots = d.slots.as_ref().and_then(|r| {
            self.int_in(r, 0, i64::from(layout::MAX_FREE_SLOTS), "free slot count")
                .map(|v| (v as u32, r.span()))
        });

        let mut irqs = Vec::new();
        for irq in &d.irqs {
            if let Some(line) = self.int_in(irq, 0, 255, "IRQ") {
                irqs.push((line as u8, irq.span()));
            }
        }
        if irqs.len() > 64 {
            self.push(Diagnostic::error(
                format!(
                    "{who} has {} IRQs; one notification word holds 64",
                    irqs.len()
                ),
                irqs[64].1.clone(),
                "the 65th",
            ));
        }
        let mut ports = Vec::new();
        for p in &d.io_ports {
            if let Some(range) = self.ports(p, &who) {
                ports.push((range, p.span()));
            }
        }
        let mut devices = Vec::new();
        for dev in &d.device_memory {
            let span = dev.span();
            let spec = dev.get_ref();
            let range = self.phys(&span, &spec.phys, &spec.size, &who);
            let at = match &spec.at {
                Some(a) => self.page_address(a, "address"),
                None => {
                    self.missing(
                        &span,
                        "at",
                        Diagnostic::error(
                            format!("device memory of {who} has no `at` address"),
                            span.clone(),
                            "mapped where?",
                        )
                        .with_help("add `at = 0x...`, where the domain sees it"),
                    );
                    None
                }
            };
            let rights = match &spec.rights {
                Some(r) => Self::rights(*r.get_ref()),
                None => {
                    self.missing(
                        &span,
                        "rights",
                        Diagnostic::error(
                            format!("device memory of {who} has no `rights`"),
                            span.clone(),
                            "mapped how?",
                        )
                        .with_help("add `rights = \"rw\"` (or \"r\")"),
                    );
                    MapRights::Read
                }
            };
            if let Some(range) = range {
                devices.push(Device {
                    range,
                    at,
                    rights,
                    span,
                });
            }
        }

        Dom {
            name,
            key: key.span(),
            description: d.description.clone(),
            program,
            partition,
            priority,
            max_priority,
            stack,
            memory,
            memory_span,
            restart,
            group,
            replies,
            asids,
            slots,
            irqs,
            ports,
            devices,
        }
    }

    fn restart(&mut self, r: &Spanned<raw::RestartSpec>, who: &str, has_group: bool) -> Restart {
        let span = r.span();
        let r = r.get_ref();
        let max = match &r.max {
            Some(m) => self.int_in(m, 0, 1000, "restart count").unwrap_or(0) as u32,
            None => {
                self.missing(
                    &span,
                    "max",
                    Diagnostic::error(
                        format!("the restart policy of {who} has no `max`"),
                        span.clone(),
                        "how many restarts?",
                    )
                    .with_help("add `max = 3`: at most that many restarts within `within`"),
                );
                0
            }
        };
        let within = match &r.within {
            Some(w) => w.get_ref().0,
            None => {
                if max > 0 {
                    self.missing(
                        &span,
                        "within",
                        Diagnostic::error(
                            format!("the restart policy of {who} has no `within`"),
                            span.clone(),
                            "within what time?",
                        )
                        .with_help(
                            "add `within = \"1s\"`: the restarts are counted over this time",
                        ),
                    );
                }
                0
            }
        };
        let (backoff_min, backoff_max) = match &r.backoff {
            Some(b) => {
                let b = *b.get_ref();
                if b.min > b.max {
                    self.push(
                        Diagnostic::error(
                            format!(
                                "the backoff of {who} starts at {} but ends at {}",
                                b.min, b.max
                            ),
                            r.backoff.as_ref().map_or(span.clone(), Spanned::span),
                            "ends below where it starts",
                        )
                        .with_help(format!("write `\"{}..{}\"`", b.max, b.min)),
                    );
                }
                (b.min.0, b.max.0)
            }
            None => (0, 0),
        };
        let then = match r.then.as_ref().map(|t| (*t.get_ref(), t.span())) {
            None | Some((raw::ThenSpec::Hold, _)) => Then::Hold,
            Some((raw::ThenSpec::Reboot, _)) => Then::Reboot,
            Some((raw::ThenSpec::RestartGroup, t_span)) => {
                if !has_group {
                    self.push(
                        Diagnostic::error(
                            format!("{who} restarts its group but is in none"),
                            t_span,
                            "needs a group",
                        )
                        .with_help("add `group = \"...\"` to the domains that restart together"),
                    );
                }
                Then::RestartGroup
            }
        };
        Restart {
            max,
            within_ns: within,
            backoff_min_ns: backoff_min,
            backoff_max_ns: backoff_max,
            then,
        }
    }

    fn channel(
        &mut self,
        key: &Spanned<String>,
        c: &Spanned<raw::Channel>,
        domain_names: &[&str],
        doms: &[Dom],
    ) -> Chan {
        let name = key.get_ref().clone();
        let table = c.span();
        let c = c.get_ref();
        self.check_name(&name, &key.span(), "channel");
        let kind = match &c.kind {
            Some(k) => Some(match k.get_ref() {
                raw::KindSpec::Endpoint => ChannelKind::Endpoint,
                raw::KindSpec::Notification => ChannelKind::Notification,
            }),
            None => {
                self.missing(
                    &table,
                    "kind",
                    Diagnostic::error(
                        format!("channel `{name}` has no `kind`"),
                        key.span(),
                        "this channel",
                    )
                    .with_help(
                        "add `kind = \"endpoint\"` (calls) or `kind = \"notification\"` (signals)",
                    ),
                );
                None
            }
        };
        let is_notification = kind == Some(ChannelKind::Notification);

        let interface = match &c.interface {
            Some(i) if is_notification => {
                self.push(
                    Diagnostic::error(
                        format!("notification `{name}` cannot carry an interface"),
                        i.span(),
                        "an interface is for calls",
                    )
                    .with_help("remove `interface`, or make the channel `kind = \"endpoint\"`"),
                );
                None
            }
            Some(i) => {
                let wanted = i.get_ref().as_str();
                match self.options.interfaces.iter().find(|k| k.name == wanted) {
                    Some(k) => Some(model::InterfaceRef {
                        name: k.name.clone(),
                        ordinal: k.ordinal,
                        version: k.version,
                    }),
                    None => {
                        let known: Vec<&str> = self
                            .options
                            .interfaces
                            .iter()
                            .map(|k| k.name.as_str())
                            .collect();
                        self.push(
                            Diagnostic::error(
                                format!("no interface is named `{wanted}`"),
                                i.span(),
                                "not an interface in idl/",
                            )
                            .with_help(suggestion(
                                wanted,
                                "interfaces",
                                &known,
                            )),
                        );
                        None
                    }
                }
            }
            None => None,
        };

        let server = match &c.to {
            Some(t) => self
                .resolve(t, "domain", domain_names)
                .map(|i| (i, t.span())),
            None => {
                self.missing(
                    &table,
                    "to",
                    Diagnostic::error(
                        format!("channel `{name}` has no receiving end"),
                        key.span(),
                        "this channel",
                    )
                    .with_help(if is_notification {
                        "add `to = \"...\"`, the domain that waits for the signals"
                    } else {
                        "add `to = \"...\"`, the domain that serves the calls"
                    }),
                );
                None
            }
        };

        let allow = c
            .allow_priority_inversion
            .as_ref()
            .map(|a| (*a.get_ref(), a.span()));
        if let Some((true, span)) = &allow
            && is_notification
        {
            self.push(
                Diagnostic::warning(
                    format!("`allow_priority_inversion` has no effect on notification `{name}`"),
                    span.clone(),
                    "nobody calls through a notification",
                )
                .with_help("remove it"),
            );
        }
        let allow_inversion = allow.as_ref().is_some_and(|a| a.0);

        if c.from.is_empty() {
            self.push(
                Diagnostic::warning(
                    format!(
                        "nobody {} through channel `{name}`",
                        if is_notification { "signals" } else { "calls" }
                    ),
                    key.span(),
                    "unused channel",
                )
                .with_help("add `from = [{ domain = \"...\" }]`, or remove the channel"),
            );
        }

        let mut senders = Vec::new();
        let mut badges: Vec<(u64, Span, String)> = Vec::new();
        for end in &c.from {
            let end_span = end.span();
            let e = end.get_ref();
            let domain = match &e.domain {
                Some(d) => self
                    .resolve(d, "domain", domain_names)
                    .map(|i| (i, d.span())),
                None => {
                    self.missing(
                        &end_span,
                        "domain",
                        Diagnostic::error(
                            "a channel end has no `domain`",
                            end_span.clone(),
                            "whose end?",
                        )
                        .with_help("add `domain = \"...\"`"),
                    );
                    None
                }
            };
            let badge = e.badge.as_ref().map_or(0, |b| *b.get_ref());
            let badge_span = e.badge.as_ref().map_or(end_span.clone(), Spanned::span);
            let grant = match &e.grant {
                Some(g) if *g.get_ref() && is_notification => {
                    self.push(
                        Diagnostic::error(
                            "capabilities cannot travel with a signal",
                            g.span(),
                            "grant on a notification",
                        )
                        .with_help("remove `grant`, or make the channel an endpoint"),
                    );
                    false
                }
                Some(g) => *g.get_ref(),
                None => false,
            };
            if is_notification && badge == 0 {
                self.push(
                    Diagnostic::error(
                        format!("a signal through `{name}` with badge 0 would set no bit"),
                        badge_span.clone(),
                        "badge 0",
                    )
                    .with_help("give each signalling end a non-zero badge, e.g. `badge = 1`"),
                );
            }
            let Some((domain, domain_span)) = domain else {
                continue;
            };
            let who = doms[usize::from(domain)].name.clone();
            if let Some((_, first, first_who)) = badges.iter().find(|(b, _, _)| *b == badge) {
                self.push(
                    Diagnostic::error(
                        format!("badge {badge} is given twice on channel `{name}`"),
                        badge_span.clone(),
                        format!("badge {badge} again, for `{who}`"),
                    )
                    .with_secondary(first.clone(), format!("first given to `{first_who}` here"))
                    .with_help("give each end its own badge, so the receiver can tell them apart"),
                );
            } else {
                badges.push((badge, badge_span, who.clone()));
            }
            if let Some((server, server_span)) = &server {
                if domain == *server {
                    self.push(
                        Diagnostic::error(
                            format!("`{who}` is at both ends of channel `{name}`"),
                            domain_span.clone(),
                            "the same domain as `to`",
                        )
                        .with_secondary(server_span.clone(), "the receiving end")
                        .with_help("a domain with one thread cannot call or signal itself usefully; remove this end"),
                    );
                    continue;
                }
                let caller = &doms[usize::from(domain)];
                let callee = &doms[usize::from(*server)];
                if kind == Some(ChannelKind::Endpoint) {
                    self.inversion(&name, caller, callee, &domain_span, allow_inversion);
                    if caller.partition.is_some() && caller.partition != callee.partition {
                        self.push(
                            Diagnostic::warning(
                                format!(
                                    "`{}` calls `{}` in another partition",
                                    caller.name, callee.name
                                ),
                                domain_span.clone(),
                                "a call across partitions",
                            )
                            .with_secondary(server_span.clone(), "served here")
                            .with_note("a call into another partition waits for the server's window: time is never lent across partitions")
                            .with_help("use a region and a notification between partitions, or put both in one partition"),
                        );
                    }
                }
            }
            senders.push(Sender {
                domain,
                badge,
                grant,
            });
        }

        Chan {
            name,
            description: c.description.clone(),
            kind,
            interface,
            server: server.map(|s| s.0),
            senders,
            allow_priority_inversion: allow_inversion,
        }
    }

    /// A caller above its server's priority is the inversion Hubris and
    /// Microkit refuse: the server runs the caller's request at its own,
    /// lower priority, behind whatever else is runnable above it.
    fn inversion(&mut self, channel: &str, caller: &Dom, server: &Dom, at: &Span, allowed: bool) {
        let (Some((cp, cp_span)), Some((sp, sp_span))) = (&caller.priority, &server.priority)
        else {
            return;
        };
        if cp <= sp || allowed {
            return;
        }
        self.push(
            Diagnostic::error(
                format!(
                    "`{}` (priority {cp}) calls `{}` (priority {sp}) through `{channel}`: a priority inversion",
                    caller.name, server.name
                ),
                at.clone(),
                "calls a server of lower priority",
            )
            .with_secondary(sp_span.clone(), format!("`{}` has priority {sp}", server.name))
            .with_secondary(cp_span.clone(), format!("`{}` has priority {cp}", caller.name))
            .with_help(format!(
                "give `{}` a priority of at least {cp}, or set `allow_priority_inversion = true` on channel `{channel}`",
                server.name
            )),
        );
    }

    fn region(
        &mut self,
        key: &Spanned<String>,
        r: &Spanned<raw::Region>,
        domain_names: &[&str],
    ) -> Reg {
        let name = key.get_ref().clone();
        let table = r.span();
        let r = r.get_ref();
        self.check_name(&name, &key.span(), "region");
        let size = match &r.size {
            Some(s) => self.pages(s, "region size", false),
            None => {
                self.missing(
                    &table,
                    "size",
                    Diagnostic::error(
                        format!("region `{name}` has no `size`"),
                        key.span(),
                        "this region",
                    )
                    .with_help("add `size = \"4KiB\"`"),
                );
                None
            }
        };
        if r.maps.is_empty() {
            self.push(
                Diagnostic::warning(format!("nobody maps region `{name}`"), key.span(), "unused region")
                    .with_help("add `maps = [{ domain = \"...\", at = 0x4000_0000, rights = \"rw\" }]`, or remove it"),
            );
        }
        let mut maps = Vec::new();
        for m in &r.maps {
            let span = m.span();
            let spec = m.get_ref();
            let domain = match &spec.domain {
                Some(d) => self.resolve(d, "domain", domain_names),
                None => {
                    self.missing(
                        &span,
                        "domain",
                        Diagnostic::error(
                            format!("a mapping of region `{name}` has no `domain`"),
                            span.clone(),
                            "mapped by whom?",
                        )
                        .with_help("add `domain = \"...\"`"),
                    );
                    None
                }
            };
            let at = match &spec.at {
                Some(a) => self.page_address(a, "address"),
                None => {
                    self.missing(
                        &span,
                        "at",
                        Diagnostic::error(
                            format!("a mapping of region `{name}` has no `at` address"),
                            span.clone(),
                            "mapped where?",
                        )
                        .with_help("add `at = 0x...`, where the domain sees the region"),
                    );
                    None
                }
            };
            let rights = match &spec.rights {
                Some(r) => Some(Self::rights(*r.get_ref())),
                None => {
                    self.missing(
                        &span,
                        "rights",
                        Diagnostic::error(
                            format!("a mapping of region `{name}` has no `rights`"),
                            span.clone(),
                            "mapped how?",
                        )
                        .with_help("add `rights = \"rw\"` or `rights = \"r\"`"),
                    );
                    None
                }
            };
            if let (Some(domain), Some(at), Some(rights)) = (domain, at, rights) {
                maps.push(RegionMap {
                    domain,
                    at,
                    rights,
                    span,
                });
            }
        }
        Reg {
            name,
            key: key.span(),
            description: r.description.clone(),
            size,
            maps,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn guest(
        &mut self,
        key: &Spanned<String>,
        g: &Spanned<raw::Guest>,
        domain_names: &[&str],
        doms: &[Dom],
        partition_names: &[&str],
        parts: &mut [Part],
        grants: &mut Vec<(Grant, Span, String)>,
        memory: &mut Vec<(u64, Span, String)>,
    ) -> Option<(model::Guest, u32)> {
        let name = key.get_ref().clone();
        let table = g.span();
        let g = g.get_ref();
        self.check_name(&name, &key.span(), "guest");
        let who = format!("guest `{name}`");
        let require = |this: &mut Self, field: &str, help: &str| {
            this.missing(
                &table,
                field,
                Diagnostic::error(format!("{who} has no `{field}`"), key.span(), "this guest")
                    .with_help(help.to_string()),
            );
        };
        let vmm = match &g.vmm {
            Some(v) => self.resolve(v, "domain", domain_names),
            None => {
                require(
                    self,
                    "vmm",
                    "add `vmm = \"...\"`, the domain that runs the guest",
                );
                None
            }
        };
        let partition = match &g.partition {
            Some(p) => self.resolve(p, "partition", partition_names),
            None => {
                require(self, "partition", "add `partition = \"...\"`");
                None
            }
        };
        if let Some(p) = partition {
            parts[usize::from(p)].users += 1;
        }
        let bytes = match &g.memory {
            Some(m) => {
                let b = self.pages(m, "guest memory", false);
                if let Some(b) = b {
                    memory.push((b, m.span(), who.clone()));
                }
                b
            }
            None => {
                require(self, "memory", "add `memory = \"64MiB\"`");
                None
            }
        };
        let kernel = match &g.kernel {
            Some(k) => {
                self.check_name(k.get_ref(), &k.span(), "guest kernel");
                Some(k.get_ref().clone())
            }
            None => {
                require(
                    self,
                    "kernel",
                    "add `kernel = \"...\"`, the boot-image entry of its kernel",
                );
                None
            }
        };
        let mut irqs = Vec::new();
        for irq in &g.irqs {
            if let Some(line) = self.int_in(irq, 0, 255, "IRQ") {
                grants.push((Grant::Irq(line as u8), irq.span(), who.clone()));
                irqs.push(line as u8);
            }
        }
        let mut io_ports = Vec::new();
        for p in &g.io_ports {
            if let Some(range) = self.ports(p, &who) {
                grants.push((Grant::Ports(range), p.span(), who.clone()));
                io_ports.push(range);
            }
        }
        let mut device_memory = Vec::new();
        for dev in &g.device_memory {
            let spec = dev.get_ref();
            if let Some(range) = self.phys(&dev.span(), &spec.phys, &spec.size, &who) {
                grants.push((Grant::Phys(range), dev.span(), who.clone()));
                device_memory.push(range);
            }
        }
        let priority = match &g.priority {
            Some(p) => self.int_in(p, 0, 255, "priority").map(|v| v as u8),
            None => {
                require(
                    self,
                    "priority",
                    "add `priority = N`, its kernel thread's (at most its vmm's `max_priority`)",
                );
                None
            }
        };
        let stack_size = match &g.stack {
            Some(st) => self.pages(st, "stack size", false),
            None => Some(layout::DEFAULT_STACK),
        };
        let asid_count = match &g.asids {
            Some(a) => self
                .int_in(a, 1, i64::from(layout::MAX_DOMAIN_ASIDS), "ASID count")
                .map(|v| v as u16),
            None => Some(0),
        };
        let slots = match &g.slots {
            Some(v) => self
                .int_in(v, 0, i64::from(layout::MAX_FREE_SLOTS), "free slot count")
                .map(|v| v as u32),
            None => Some(0),
        };
        let restart = match &g.restart {
            Some(r) => {
                let policy = self.restart(r, &who, false);
                if policy.then != Then::Hold {
                    self.push(
                        Diagnostic::error(
                            format!(
                                "{who}'s restarts may only end in `hold`: its vmm restarts the guest alone"
                            ),
                            r.span(),
                            "not `hold`",
                        )
                        .with_help("write `then = \"hold\"`, or give the vmm domain a policy of its own"),
                    );
                }
                policy
            }
            None => Restart::NEVER,
        };
        if let (Some(p), Some(v)) = (priority, vmm)
            && let Some(vd) = doms.get(usize::from(v))
            && p > vd.max_priority
        {
            self.push(
                Diagnostic::error(
                    format!(
                        "{who} has priority {p}, above its vmm `{}`'s maximum priority {}",
                        vd.name, vd.max_priority
                    ),
                    g.priority.as_ref().map_or(key.span(), Spanned::span),
                    "above the vmm's maximum",
                )
                .with_help("the vmm gives its guest's thread a priority within its own maximum: raise the vmm's `max_priority`"),
            );
        }
        if let (Some(p), Some(v)) = (partition, vmm)
            && let Some(vd) = doms.get(usize::from(v))
            && vd.partition.is_some_and(|vp| vp != p)
        {
            self.push(
                Diagnostic::error(
                    format!("{who} is not in its vmm `{}`'s partition", vd.name),
                    g.partition.as_ref().map_or(key.span(), Spanned::span),
                    "another partition",
                )
                .with_help("a vmm makes its guest's thread, which runs in the vmm's partition: put each guest in its own vmm's partition"),
            );
        }
        let inject_fault_ns = g.test_inject_fault.as_ref().map_or(0, |d| d.get_ref().0);
        let cnode_slots = slots?;
        let guest = model::Guest {
            name,
            description: g.description.clone(),
            vmm: vmm?,
            partition: partition?,
            memory: bytes?,
            kernel: kernel?,
            priority: priority?,
            stack_size: stack_size?,
            // Set with its vmm's layout.
            asid_first: 0,
            asid_count: asid_count?,
            cnode_radix: 0,
            restart,
            inject_fault_ns,
            irqs,
            io_ports,
            device_memory,
        };
        Some((guest, cnode_slots))
    }

    /// IRQs, I/O ports and physical memory each go to one owner.
    fn grants_once(&mut self, doms: &[Dom], guests: Vec<(Grant, Span, String)>) {
        let mut all: Vec<(Grant, Span, String)> = Vec::new();
        for d in doms {
            let who = format!("domain `{}`", d.name);
            all.extend(
                d.irqs
                    .iter()
                    .map(|(l, s)| (Grant::Irq(*l), s.clone(), who.clone())),
            );
            all.extend(
                d.ports
                    .iter()
                    .map(|(r, s)| (Grant::Ports(*r), s.clone(), who.clone())),
            );
            all.extend(
                d.devices
                    .iter()
                    .map(|dev| (Grant::Phys(dev.range), dev.span.clone(), who.clone())),
            );
        }
        all.extend(guests);
        for (i, (grant, span, who)) in all.iter().enumerate() {
            if let Some((first, first_span, first_who)) =
                all[..i].iter().find(|(g, _, _)| g.clashes(grant))
            {
                let what = grant.describe();
                let first_what = first.describe();
                let message = match grant {
                    Grant::Ports(p) if p.first != p.last && grant == first => {
                        format!("{what} are granted twice")
                    }
                    _ if grant == first => format!("{what} is granted twice"),
                    Grant::Ports(p) if p.first != p.last => {
                        format!("{what} overlap {first_what}, granted before")
                    }
                    _ => format!("{what} overlaps {first_what}, granted before"),
                };
                self.push(
                    Diagnostic::error(message, span.clone(), format!("granted again, to {who}"))
                        .with_secondary(
                            first_span.clone(),
                            format!("{first_what} first granted here, to {first_who}"),
                        )
                        .with_help("a device belongs to one driver: grant it once"),
                );
            }
        }
    }

    /// Every quota, stack, region and guest together must fit the machine.
    fn memory_fits(&mut self, doms: &[Dom], regs: &[Reg], guests: &[(u64, Span, String)]) {
        let mut parts: Vec<(u64, Span, String)> = Vec::new();
        for d in doms {
            parts.push((
                d.memory.saturating_add(d.stack + layout::PAGE),
                d.memory_span.clone(),
                format!("domain `{}`", d.name),
            ));
        }
        for r in regs {
            if let Some(size) = r.size {
                parts.push((size, r.key.clone(), format!("region `{}`", r.name)));
            }
        }
        parts.extend(guests.iter().cloned());
        let total = parts.iter().fold(0u64, |t, p| t.saturating_add(p.0));
        let machine = self.options.machine_memory;
        if total <= machine {
            return;
        }
        parts.sort_by_key(|p| std::cmp::Reverse(p.0));
        let Some((largest, span, who)) = parts.first().cloned() else {
            return;
        };
        let mut d = Diagnostic::error(
            format!(
                "the quotas add up to {}, more than the machine's {}",
                units::approx(total),
                units::approx(machine)
            ),
            span,
            format!("the largest: {} for {who}", units::approx(largest)),
        );
        for (bytes, span, who) in parts.iter().skip(1).take(3) {
            d = d.with_secondary(span.clone(), format!("{} for {who}", units::approx(*bytes)));
        }
        self.push(
            d.with_note("each domain counts its `memory`, its stack and its IPC buffer page; regions and guests count their size")
                .with_help("lower the quotas, or boot a machine with more memory"),
        );
    }

    /// Partitions need windows; domains need partitions (checked with the
    /// domain); a partition nobody runs in is a warning.
    fn schedule_covers(&mut self, parts: &[Part], file: &raw::File) {
        for p in parts {
            if p.windows == 0 && file.time.is_some() {
                self.push(
                    Diagnostic::error(
                        format!("partition `{}` has no window", p.name),
                        p.key.clone(),
                        "never runs",
                    )
                    .with_help(format!(
                        "add `{{ partition = \"{}\", length = \"...\" }}` to `windows` in `[time]`",
                        p.name
                    )),
                );
            }
            if p.users == 0 {
                self.push(
                    Diagnostic::warning(
                        format!("nothing runs in partition `{}`", p.name),
                        p.key.clone(),
                        "unused partition",
                    )
                    .with_help("put a domain in it with `partition = ...`, or remove it"),
                );
            }
        }
    }

    fn replies_used(&mut self, doms: &[Dom], chans: &[Chan]) {
        for (i, d) in doms.iter().enumerate() {
            let serves = chans.iter().any(|c| {
                c.kind == Some(ChannelKind::Endpoint) && c.server == u16::try_from(i).ok()
            });
            if let Some((n, span)) = &d.replies
                && *n > 0
                && !serves
            {
                self.push(
                    Diagnostic::warning(
                        format!(
                            "domain `{}` has reply objects but serves no endpoint",
                            d.name
                        ),
                        span.clone(),
                        "unused",
                    )
                    .with_help("remove `replies`"),
                );
            }
        }
    }

    /// The ids of `d`'s ASID pool, if it asks for one: ranges are given
    /// from the top of the id space down, one after another, so no two
    /// domains share an id, and the ids from 1 up stay the root task's.
    fn asid_range(&mut self, d: &Dom, extra: u32, top: &mut u32) -> Option<(u16, u16)> {
        let (own, span) = match &d.asids {
            Some((n, span)) => (*n, span.clone()),
            None if extra > 0 => (0, d.key.clone()),
            None => return None,
        };
        let count = &(own + extra);
        let span = &span;
        let first = top.saturating_sub(*count);
        if first < layout::ASIDS - layout::MAX_GRANTED_ASIDS {
            self.push(
                Diagnostic::error(
                    format!(
                        "the domains' `asids` add up to more than {}",
                        layout::MAX_GRANTED_ASIDS
                    ),
                    span.clone(),
                    "this one goes past the limit",
                )
                .with_help("the other ids are the root task's, for the domains' address spaces; ask for fewer"),
            );
            return None;
        }
        *top = first;
        Some((first as u16, *count as u16))
    }

    /// The domain's capability space and address space.
    fn layout(
        &mut self,
        index: usize,
        d: &Dom,
        asids: Option<(u16, u16)>,
        hosted: Option<(usize, &model::Guest)>,
        chans: &[Chan],
        regs: &[Reg],
    ) -> Option<model::Domain> {
        let me = u16::try_from(index).ok()?;
        let mut caps = vec![
            cap(layout::SLOT_CNODE, Object::CNode, Rights::NONE, 0),
            cap(layout::SLOT_TCB, Object::Tcb, Rights::NONE, 0),
            cap(layout::SLOT_VSPACE, Object::VSpace, Rights::NONE, 0),
            cap(
                layout::SLOT_IPC_BUFFER,
                Object::IpcBuffer,
                Rights::READ_WRITE,
                0,
            ),
        ];
        if !d.irqs.is_empty() {
            caps.push(cap(
                layout::SLOT_IRQ_NOTIFICATION,
                Object::IrqNotification,
                Rights::READ,
                0,
            ));
        }
        if let Some((first, count)) = asids {
            caps.push(cap(
                layout::SLOT_ASID_POOL,
                Object::AsidPool { first, count },
                Rights::NONE,
                0,
            ));
        }
        let mut slot = layout::SLOT_FIRST_GRANT;
        let mut next = |caps: &mut Vec<Cap>, object: Object, rights: Rights, badge: u64| {
            caps.push(cap(slot, object, rights, badge));
            slot += 1;
        };
        // A vmm's guest memory comes first, so the vmm finds it from slot
        // 8: what it builds the guest from, then the guest's quota.
        if let Some((gi, g)) = hosted
            && let Ok(guest) = u16::try_from(gi)
        {
            next(&mut caps, Object::GuestBuild { guest }, Rights::NONE, 0);
            for size_bits in layout::untyped_pieces(g.memory) {
                next(
                    &mut caps,
                    Object::GuestMemory { guest, size_bits },
                    Rights::NONE,
                    0,
                );
            }
        }
        let mut serves = false;
        for (ci, c) in chans.iter().enumerate() {
            let (Some(kind), Ok(channel)) = (c.kind, u16::try_from(ci)) else {
                continue;
            };
            let object = match kind {
                ChannelKind::Endpoint => Object::Endpoint { channel },
                ChannelKind::Notification => Object::Notification { channel },
            };
            if c.server == Some(me) {
                serves |= kind == ChannelKind::Endpoint;
                next(&mut caps, object, Rights::READ, 0);
            }
            for s in c.senders.iter().filter(|s| s.domain == me) {
                let rights = match kind {
                    ChannelKind::Endpoint => Rights {
                        write: true,
                        grant: s.grant,
                        grant_reply: true,
                        ..Rights::NONE
                    },
                    ChannelKind::Notification => Rights::WRITE,
                };
                next(&mut caps, object, rights, s.badge);
            }
        }
        for (bit, (line, _)) in d.irqs.iter().enumerate().take(64) {
            next(
                &mut caps,
                Object::IrqHandler { line: *line },
                Rights::NONE,
                1 << bit,
            );
        }
        for (range, _) in &d.ports {
            next(
                &mut caps,
                Object::IoPort {
                    first: range.first,
                    last: range.last,
                },
                Rights::NONE,
                0,
            );
        }
        let replies = d.replies.as_ref().map_or(u32::from(serves), |r| r.0);
        for _ in 0..replies {
            next(&mut caps, Object::Reply, Rights::NONE, 0);
        }
        for size_bits in layout::untyped_pieces(d.memory) {
            next(&mut caps, Object::Untyped { size_bits }, Rights::NONE, 0);
        }
        let first_free_slot = slot;
        let wanted = d.slots.as_ref().map_or(0, |s| s.0);
        let cnode_radix = layout::cnode_radix_for(first_free_slot.saturating_add(wanted));
        if cnode_radix > layout::MAX_CNODE_RADIX {
            self.push(Diagnostic::error(
                format!(
                    "domain `{}` needs {first_free_slot} capability slots, more than a CNode holds",
                    d.name
                ),
                d.key.clone(),
                "too many capabilities",
            ));
        }

        // The address space: fixed areas, then regions and device memory.
        let stack_top = layout::STACK_TOP;
        let guard = layout::stack_guard(d.stack);
        let fixed = [
            (
                0,
                layout::PROGRAM_END,
                "the program window (null guard and ELF, below 1GiB)".to_string(),
            ),
            (
                guard,
                stack_top - guard,
                format!(
                    "the stack and its guard page ({:#x}..{stack_top:#x})",
                    guard
                ),
            ),
            (
                layout::IPC_BUFFER,
                layout::PAGE,
                format!("the IPC buffer ({:#x})", layout::IPC_BUFFER),
            ),
        ];
        let mut placed: Vec<(Mapping, Span)> = Vec::new();
        let mut wanted: Vec<(Mapping, Span)> = Vec::new();
        for (ri, r) in regs.iter().enumerate() {
            let (Some(size), Ok(region)) = (r.size, u16::try_from(ri)) else {
                continue;
            };
            for m in r.maps.iter().filter(|m| m.domain == me) {
                wanted.push((
                    Mapping {
                        vaddr: m.at,
                        size,
                        rights: m.rights,
                        what: Mapped::Region { region },
                    },
                    m.span.clone(),
                ));
            }
        }
        for dev in &d.devices {
            if let Some(at) = dev.at {
                wanted.push((
                    Mapping {
                        vaddr: at,
                        size: dev.range.size,
                        rights: dev.rights,
                        what: Mapped::Device {
                            phys: dev.range.phys,
                        },
                    },
                    dev.span.clone(),
                ));
            }
        }
        if let Some(guest) = hosted.and_then(|(g, _)| u16::try_from(g).ok()) {
            wanted.push((
                Mapping {
                    vaddr: layout::GUEST_KERNEL_BASE,
                    size: layout::GUEST_KERNEL_WINDOW,
                    rights: MapRights::Read,
                    what: Mapped::GuestKernel { guest },
                },
                d.key.clone(),
            ));
        }
        for (m, span) in wanted {
            let end = m.vaddr.checked_add(m.size);
            if !septum_abi::layout::is_user_range(m.vaddr, m.size) || end.is_none() {
                self.push(
                    Diagnostic::error(
                        format!(
                            "{:#x}..{:#x} is not user memory in `{}`'s address space",
                            m.vaddr,
                            m.vaddr.saturating_add(m.size),
                            d.name
                        ),
                        span,
                        "not a user address",
                    )
                    .with_help("user memory is below 0x7fff_ffff_f000, or above the kernel's slots in the upper half"),
                );
                continue;
            }
            if let Some((_, _, what)) = fixed
                .iter()
                .find(|(start, len, _)| m.vaddr < start + len && *start < m.vaddr + m.size)
            {
                self.push(
                    Diagnostic::error(
                        format!(
                            "this mapping at {:#x}..{:#x} overlaps {what} in `{}`'s address space",
                            m.vaddr,
                            m.vaddr + m.size,
                            d.name
                        ),
                        span,
                        "overlaps a fixed area",
                    )
                    .with_help(format!(
                        "map it at {:#x} or above, below the stack",
                        layout::PROGRAM_END
                    )),
                );
                continue;
            }
            if let Some((other, other_span)) = placed
                .iter()
                .find(|(o, _)| m.vaddr < o.vaddr + o.size && o.vaddr < m.vaddr + m.size)
            {
                self.push(
                    Diagnostic::error(
                        format!(
                            "two mappings overlap in `{}`'s address space: {:#x}..{:#x} and {:#x}..{:#x}",
                            d.name,
                            m.vaddr,
                            m.vaddr + m.size,
                            other.vaddr,
                            other.vaddr + other.size
                        ),
                        span,
                        "overlaps another mapping",
                    )
                    .with_secondary(other_span.clone(), "the other mapping")
                    .with_help(format!(
                        "move one of them: {:#x} is free after the other",
                        other.vaddr + other.size
                    )),
                );
                continue;
            }
            placed.push((m, span));
        }
        placed.sort_by_key(|(m, _)| m.vaddr);

        Some(model::Domain {
            name: d.name.clone(),
            description: d.description.clone(),
            program: d.program.clone()?,
            partition: d.partition?,
            priority: d.priority.as_ref()?.0,
            max_priority: d.max_priority,
            group: d.group.clone(),
            restart: d.restart,
            stack_top,
            stack_size: d.stack,
            ipc_buffer: layout::IPC_BUFFER,
            memory: d.memory,
            cnode_radix,
            first_free_slot,
            caps,
            maps: placed.into_iter().map(|(m, _)| m).collect(),
        })
    }
}

/// A capability a domain calls or signals through (what a vmm hands its
/// guest).
fn is_sender_end(c: &Cap) -> bool {
    matches!(
        c.object,
        Object::Endpoint { .. } | Object::Notification { .. }
    ) && c.rights.write
}

fn cap(slot: u32, object: Object, rights: Rights, badge: u64) -> Cap {
    Cap {
        slot,
        object,
        rights,
        badge,
    }
}
