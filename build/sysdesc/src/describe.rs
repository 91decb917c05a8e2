//! `cargo xtask describe`: what a checked description will be, as text
//! for a person and as a Graphviz graph. (The JSON form is the model
//! itself, [`crate::model::System::to_json`].)

use crate::image::{ChannelKind, Mapped, Object, Rights, Then};
use crate::layout;
use crate::model::{Domain, Mapping, System};
use crate::units;
use std::fmt::Write;

/// `v` in hex with `_` between groups of four digits, 16 digits wide.
pub fn hex(v: u64) -> String {
    let digits = format!("{v:016x}");
    let groups: Vec<&str> = (0..4).map(|i| &digits[i * 4..i * 4 + 4]).collect();
    format!("0x{}", groups.join("_"))
}

fn badge(b: u64) -> String {
    if b < 10 {
        b.to_string()
    } else {
        format!("{b:#x}")
    }
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The text `describe` prints for `sys`, read from `source`.
pub fn text(sys: &System, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "system {source} (schema {})", sys.schema);
    let _ = writeln!(
        out,
        "  {}, {}, {}, {}, {}; checked against {} of machine memory",
        count(sys.domains.len(), "domain"),
        count(sys.channels.len(), "channel"),
        count(sys.regions.len(), "region"),
        count(sys.partitions.len(), "partition"),
        count(sys.guests.len(), "guest"),
        units::size(sys.machine_memory)
    );
    out.push('\n');
    schedule(&mut out, sys);
    for d in &sys.domains {
        out.push('\n');
        domain(&mut out, sys, d);
    }
    out.push('\n');
    channels(&mut out, sys);
    out.push('\n');
    regions(&mut out, sys);
    if !sys.guests.is_empty() {
        out.push('\n');
        guests(&mut out, sys);
    }
    out
}

const TIMELINE_WIDTH: u64 = 60;

fn schedule(out: &mut String, sys: &System) {
    let frame = sys.major_frame_ns.max(1);
    let _ = writeln!(
        out,
        "time partitions: major frame {}, repeating",
        units::time(frame)
    );
    // The time line: one character per 1/60 of the frame, each window
    // drawn with its partition's first letter, idle time as '.'.
    let col = |t: u64| (u128::from(t) * u128::from(TIMELINE_WIDTH) / u128::from(frame)) as usize;
    let mut bar = vec!['.'; TIMELINE_WIDTH as usize];
    let mut ticks = vec![' '; TIMELINE_WIDTH as usize + 1];
    let mut marks: Vec<(usize, String)> = vec![(0, units::time(0))];
    for w in &sys.windows {
        let (a, b) = (col(w.start_ns), col(w.start_ns + w.length_ns));
        let letter = sys
            .partition_name(w.partition)
            .chars()
            .next()
            .unwrap_or('?');
        let end = b.max(a + 1).min(bar.len());
        for c in bar.iter_mut().take(end).skip(a) {
            *c = letter;
        }
        ticks[a] = '|';
        ticks[b.min(TIMELINE_WIDTH as usize)] = '|';
        marks.push((a, units::time(w.start_ns)));
        marks.push((b, units::time(w.start_ns + w.length_ns)));
    }
    ticks[0] = '|';
    ticks[TIMELINE_WIDTH as usize] = '|';
    marks.push((TIMELINE_WIDTH as usize, units::time(frame)));
    marks.sort();
    marks.dedup_by(|a, b| a.0 == b.0);
    let mut scale = String::new();
    for (at, label) in marks {
        if scale.chars().count() <= at {
            while scale.chars().count() < at {
                scale.push(' ');
            }
            scale.push_str(&label);
        }
    }
    let _ = writeln!(out, "  {}", scale.trim_end());
    let _ = writeln!(out, "  {}", ticks.iter().collect::<String>().trim_end());
    let _ = writeln!(out, "   {}", bar.iter().collect::<String>());
    for w in &sys.windows {
        let name = sys.partition_name(w.partition);
        let members: Vec<&str> = sys
            .domains
            .iter()
            .filter(|d| d.partition == w.partition)
            .map(|d| d.name.as_str())
            .chain(
                sys.guests
                    .iter()
                    .filter(|g| g.partition == w.partition)
                    .map(|g| g.name.as_str()),
            )
            .collect();
        let _ = writeln!(
            out,
            "  {name:<10} {:>8} .. {:<8} ({})  {}",
            units::time(w.start_ns),
            units::time(w.start_ns + w.length_ns),
            units::time(w.length_ns),
            if members.is_empty() {
                "(nothing runs)".to_string()
            } else {
                members.join(", ")
            }
        );
    }
    let busy: u64 = sys.windows.iter().map(|w| w.length_ns).sum();
    if busy < frame {
        let _ = writeln!(
            out,
            "  idle       {} of every {} ('.')",
            units::time(frame - busy),
            units::time(frame)
        );
    }
}

fn guest_name(sys: &System, g: u16) -> &str {
    sys.guests
        .get(usize::from(g))
        .map_or("?", |g| g.name.as_str())
}

/// What a capability's object is, in words.
fn object(sys: &System, o: &Object, rights: Rights) -> String {
    let channel = |c: u16| {
        let ch = sys.channels.get(usize::from(c));
        let name = ch.map_or("?", |c| c.name.as_str());
        let iface = ch
            .and_then(|c| c.interface.as_ref())
            .map(|i| format!(" ({} v{})", i.name, i.version))
            .unwrap_or_default();
        (name.to_string(), iface)
    };
    match o {
        Object::CNode => "its CNode".into(),
        Object::Tcb => "its thread (TCB)".into(),
        Object::VSpace => "its address space".into(),
        Object::IpcBuffer => "its IPC buffer frame".into(),
        Object::Endpoint { channel: c } => {
            let (name, iface) = channel(*c);
            let end = if rights.read { "serve" } else { "call" };
            format!("endpoint `{name}`{iface}: {end}")
        }
        Object::Notification { channel: c } => {
            let (name, _) = channel(*c);
            let end = if rights.read { "wait" } else { "signal" };
            format!("notification `{name}`: {end}")
        }
        Object::IrqNotification => "the notification its IRQs signal".into(),
        Object::IrqHandler { line } => format!("IRQ {line} handler"),
        Object::IoPort { first, last } if first == last => format!("I/O port {first:#x}"),
        Object::IoPort { first, last } => format!("I/O ports {first:#x}..={last:#x}"),
        Object::Reply => "reply object".into(),
        Object::Untyped { size_bits } => format!("untyped {}", units::size(1 << size_bits)),
        Object::AsidPool { first, count } => format!(
            "ASID pool: ids {first}..{}",
            u32::from(*first) + u32::from(*count)
        ),
        Object::GuestBuild { guest } => format!(
            "guest `{}`'s kernel memory (untyped, sized at boot)",
            guest_name(sys, *guest)
        ),
        Object::GuestMemory { guest, size_bits } => format!(
            "guest `{}`'s quota: untyped {}",
            guest_name(sys, *guest),
            units::size(1 << size_bits)
        ),
    }
}

fn restart(d: &Domain) -> String {
    let r = d.restart;
    let then = match r.then {
        Then::Hold => "hold".to_string(),
        Then::RestartGroup => format!("restart group `{}`", d.group.as_deref().unwrap_or("?")),
        Then::Reboot => "reboot".to_string(),
    };
    if r.max == 0 {
        format!("never restarted; a fault means {then}")
    } else {
        let backoff = if r.backoff_max_ns == 0 {
            "no backoff".to_string()
        } else {
            format!(
                "backoff {}..{}",
                units::time(r.backoff_min_ns),
                units::time(r.backoff_max_ns)
            )
        };
        format!(
            "restarted up to {} times within {}, {backoff}, then {then}",
            r.max,
            units::time(r.within_ns)
        )
    }
}

fn domain(out: &mut String, sys: &System, d: &Domain) {
    let _ = writeln!(
        out,
        "domain {}: program `{}`, partition {}, priority {} (max {})",
        d.name,
        d.program,
        sys.partition_name(d.partition),
        d.priority,
        d.max_priority
    );
    if let Some(text) = &d.description {
        let _ = writeln!(out, "  {text}");
    }
    let _ = writeln!(
        out,
        "  memory {}, stack {}; {}",
        units::size(d.memory),
        units::size(d.stack_size),
        restart(d)
    );
    let _ = writeln!(
        out,
        "  capabilities (CNode of {} slots, slot = capability pointer; {}.. free):",
        1u64 << d.cnode_radix,
        d.first_free_slot
    );
    let _ = writeln!(
        out,
        "    {:>5}  {:<46} {:<6} badge",
        "slot", "object", "rights"
    );
    for c in &d.caps {
        let b = match c.object {
            Object::Endpoint { .. } | Object::Notification { .. } | Object::IrqHandler { .. }
                if c.badge != 0 =>
            {
                badge(c.badge)
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "    {:>5}  {:<46} {:<6} {b}",
            c.slot,
            object(sys, &c.object, c.rights),
            c.rights.to_string()
        );
    }
    let _ = writeln!(out, "  address space:");
    let guard = d.stack_top - d.stack_size - layout::PAGE;
    let mut areas: Vec<(u64, u64, String)> = vec![
        (0, layout::PROGRAM_BASE, "null guard (unmapped)".into()),
        (
            layout::PROGRAM_BASE,
            layout::PROGRAM_END,
            format!("program `{}`: its ELF segments go here", d.program),
        ),
        (
            guard,
            guard + layout::PAGE,
            "stack guard page (unmapped)".into(),
        ),
        (
            guard + layout::PAGE,
            d.stack_top,
            format!("stack {} rw", units::size(d.stack_size)),
        ),
        (
            d.ipc_buffer,
            d.ipc_buffer + layout::PAGE,
            "IPC buffer rw".into(),
        ),
    ];
    for m in &d.maps {
        let what = match m.what {
            Mapped::Region { region } => format!(
                "region `{}`",
                sys.regions
                    .get(usize::from(region))
                    .map_or("?", |r| r.name.as_str())
            ),
            Mapped::Device { phys } => format!("device memory at physical {}", hex(phys)),
            Mapped::GuestKernel { guest } => format!("guest `{}`'s kernel", guest_name(sys, guest)),
        };
        areas.push((
            m.vaddr,
            m.vaddr + m.size,
            format!("{what} {} {}", units::size(m.size), m.rights.as_str()),
        ));
    }
    areas.sort_by_key(|a| a.0);
    for (start, end, what) in areas {
        let _ = writeln!(out, "    {}..{}  {what}", hex(start), hex(end));
    }
}

fn channels(out: &mut String, sys: &System) {
    let _ = writeln!(out, "channels:");
    if sys.channels.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for c in &sys.channels {
        let iface = c
            .interface
            .as_ref()
            .map(|i| format!(" {} (ordinal {:#06x}, v{})", i.name, i.ordinal, i.version))
            .unwrap_or_default();
        let verb = match c.kind {
            ChannelKind::Endpoint => "calls",
            ChannelKind::Notification => "signals",
        };
        let _ = writeln!(
            out,
            "  {} ({}{iface}): received by {}",
            c.name,
            c.kind.as_str(),
            sys.domain_name(c.server)
        );
        for s in &c.senders {
            let grant = if s.grant {
                ", may grant capabilities"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    {} {verb} with badge {}{grant}",
                sys.domain_name(s.domain),
                badge(s.badge)
            );
        }
        if c.allow_priority_inversion {
            let _ = writeln!(out, "    (callers above the server's priority allowed)");
        }
    }
}

/// Every mapping of region `i`, with the domain that has it, in the
/// order of the domains and their maps.
fn region_maps(sys: &System, i: usize) -> impl Iterator<Item = (&Domain, &Mapping)> {
    sys.domains.iter().flat_map(move |d| {
        d.maps
            .iter()
            .filter(
                move |m| matches!(m.what, Mapped::Region { region } if usize::from(region) == i),
            )
            .map(move |m| (d, m))
    })
}

fn regions(out: &mut String, sys: &System) {
    let _ = writeln!(out, "regions:");
    if sys.regions.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (i, r) in sys.regions.iter().enumerate() {
        let _ = writeln!(out, "  {} ({}):", r.name, units::size(r.size));
        for (d, m) in region_maps(sys, i) {
            let _ = writeln!(
                out,
                "    {} maps it {} at {}",
                d.name,
                m.rights.as_str(),
                hex(m.vaddr)
            );
        }
    }
}

fn guests(out: &mut String, sys: &System) {
    let _ = writeln!(out, "guests:");
    for g in &sys.guests {
        let _ = writeln!(
            out,
            "  {}: kernel `{}`, {} of memory, partition {}, run by {}; priority {}, \
             stack {}, ASIDs {}..{}, CNode of {} slots",
            g.name,
            g.kernel,
            units::size(g.memory),
            sys.partition_name(g.partition),
            sys.domain_name(g.vmm),
            g.priority,
            units::size(g.stack_size),
            g.asid_first,
            u32::from(g.asid_first) + u32::from(g.asid_count),
            1u32 << g.cnode_radix
        );
        for irq in &g.irqs {
            let _ = writeln!(out, "    IRQ {irq}");
        }
        for p in &g.io_ports {
            let _ = writeln!(out, "    I/O ports {:#x}..={:#x}", p.first, p.last);
        }
        for r in &g.device_memory {
            let _ = writeln!(
                out,
                "    device memory {}..{}",
                hex(r.phys),
                hex(r.phys + r.size)
            );
        }
    }
}

/// A Graphviz graph of `sys`: domains grouped by partition, channels as
/// labelled edges (solid: calls, dashed: signals), regions as notes joined
/// to the domains that map them.
pub fn dot(sys: &System) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph system {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, style=rounded];");
    for (pi, p) in sys.partitions.iter().enumerate() {
        let windows: Vec<String> = sys
            .windows
            .iter()
            .filter(|w| usize::from(w.partition) == pi)
            .map(|w| {
                format!(
                    "{}..{}",
                    units::time(w.start_ns),
                    units::time(w.start_ns + w.length_ns)
                )
            })
            .collect();
        let _ = writeln!(out, "  subgraph \"cluster_{}\" {{", p.name);
        let _ = writeln!(
            out,
            "    label=\"partition {} ({} of {})\";",
            p.name,
            windows.join(", "),
            units::time(sys.major_frame_ns)
        );
        for d in sys
            .domains
            .iter()
            .filter(|d| usize::from(d.partition) == pi)
        {
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{}\\n{} prio {}\"];",
                d.name, d.name, d.program, d.priority
            );
        }
        for g in sys.guests.iter().filter(|g| usize::from(g.partition) == pi) {
            let _ = writeln!(
                out,
                "    \"guest:{}\" [shape=component, label=\"guest {}\\n{}\"];",
                g.name, g.name, g.kernel
            );
        }
        let _ = writeln!(out, "  }}");
    }
    for c in &sys.channels {
        let server = sys.domain_name(c.server);
        for s in &c.senders {
            let iface = c
                .interface
                .as_ref()
                .map(|i| format!(": {}", i.name))
                .unwrap_or_default();
            let style = match c.kind {
                ChannelKind::Endpoint => "solid",
                ChannelKind::Notification => "dashed",
            };
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{server}\" [label=\"{}{iface}\\nbadge {}\", style={style}];",
                sys.domain_name(s.domain),
                c.name,
                badge(s.badge)
            );
        }
    }
    for (i, r) in sys.regions.iter().enumerate() {
        let _ = writeln!(
            out,
            "  \"region:{}\" [shape=note, label=\"{}\\n{}\"];",
            r.name,
            r.name,
            units::size(r.size)
        );
        for (d, m) in region_maps(sys, i) {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"region:{}\" [dir=none, style=dotted, label=\"{}\"];",
                d.name,
                r.name,
                m.rights.as_str()
            );
        }
    }
    for g in &sys.guests {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"guest:{}\" [style=dotted, label=\"runs\"];",
            sys.domain_name(g.vmm),
            g.name
        );
    }
    let _ = writeln!(out, "}}");
    out
}
