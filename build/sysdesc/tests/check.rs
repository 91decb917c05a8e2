//! Every check of the checker, each from a small description with one
//! mistake: the message, and the line and column it points at.

use septum_sysdesc::check::{KnownInterface, Options, Report, check};
use septum_sysdesc::diag::{Diagnostic, Severity, line_col};

fn options() -> Options {
    Options {
        machine_memory: 256 << 20,
        interfaces: vec![KnownInterface {
            name: "Echo".into(),
            ordinal: 0x0101,
            version: 1,
        }],
    }
}

fn run(text: &str) -> Report {
    check(text, &options())
}

/// A finding as the tests compare it: message, line, column.
#[derive(Debug)]
struct Found {
    severity: Severity,
    message: String,
    at: (usize, usize),
    d: Diagnostic,
}

fn findings(text: &str, opts: &Options) -> Vec<Found> {
    check(text, opts)
        .diagnostics
        .into_iter()
        .map(|d| Found {
            severity: d.severity,
            message: d.message.clone(),
            at: line_col(text, d.span.start),
            d,
        })
        .collect()
}

fn errors(text: &str) -> Vec<Found> {
    findings(text, &options())
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

fn warnings(text: &str) -> Vec<Found> {
    findings(text, &options())
        .into_iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect()
}

/// The one error of `text`: its message contains `message` and it points
/// at `line:col`. Returns it for further checks.
#[track_caller]
fn one_error(text: &str, message: &str, line: usize, col: usize) -> Diagnostic {
    let mut errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    let e = errs.remove(0);
    assert!(
        e.message.contains(message),
        "expected {message:?} in {:?}",
        e.message
    );
    assert_eq!(e.at, (line, col), "{}", e.message);
    e.d
}

/// The position of a secondary label.
fn secondary_at(text: &str, d: &Diagnostic, i: usize) -> ((usize, usize), String) {
    let (span, label) = &d.secondary[i];
    (line_col(text, span.start), label.clone())
}

// A small valid system; the tests below write theirs out in full so that
// each position is visible in the test.
const VALID: &str = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
"#;

#[test]
fn a_valid_description_has_no_findings() {
    let r = run(VALID);
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    let sys = r.system.expect("a system");
    assert_eq!(sys.domains.len(), 1);
    assert_eq!(sys.domains[0].priority, 10);
    assert_eq!(sys.domains[0].max_priority, 10, "defaults to the priority");
}

#[test]
fn unknown_fields_with_suggestions() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
prioity = 3
"#;
    let e = one_error(text, "unknown field `prioity`", 10, 1);
    assert_eq!(e.help.as_deref(), Some("did you mean `priority`?"));

    let text = VALID.replace("[domains.a]", "[domain.a]");
    let errs = errors(&text);
    let e = errs
        .iter()
        .find(|e| e.message == "unknown field `domain`")
        .expect("the misspelt table");
    assert_eq!(e.at, (6, 2));
    assert_eq!(e.d.help.as_deref(), Some("did you mean `domains`?"));

    // Nested in an inline table, and with nothing close: the list.
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms", colour = "red" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
"#;
    let e = one_error(text, "unknown field `colour`", 4, 48);
    let help = e.help.unwrap();
    assert!(help.contains("`partition`, `start`, `length`"), "{help}");
}

#[test]
fn unknown_values_with_suggestions() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
restart = { max = 1, within = "1s", then = "holdd" }
"#;
    let e = one_error(text, "unknown value `holdd`", 10, 44);
    assert_eq!(e.help.as_deref(), Some("did you mean `hold`?"));
}

#[test]
fn wrong_types_and_units() {
    let text = r#"schema = 1
[time]
major_frame = 10
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = "high"
stack = "16KB"
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].message.contains("a time needs a unit"), "{errs:#?}");
    assert_eq!(errs[0].at, (3, 15));
    assert_eq!(
        errs[1].message,
        "expected an integer, found string \"high\""
    );
    assert_eq!(errs[1].at, (9, 12));
    assert!(errs[2].message.contains("unknown size unit `KB`"));
    assert_eq!(errs[2].at, (10, 9));
    assert!(errs[2].d.help.as_ref().unwrap().contains("write KiB"));
    // The priority was reported as wrong, not as missing too.
    assert!(!errs.iter().any(|e| e.message.contains("has no `priority`")));
}

#[test]
fn unresolved_names() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "B"
priority = 10
"#;
    let e = one_error(text, "no partition is named `B`", 8, 13);
    assert_eq!(e.help.as_deref(), Some("the partitions are: `A`"));

    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.server]
program = "s"
partition = "A"
priority = 10
[channels.c]
kind = "endpoint"
to = "sever"
from = [{ domain = "server" }]
"#;
    let e = one_error(text, "no domain is named `sever`", 12, 6);
    assert_eq!(e.help.as_deref(), Some("did you mean `server`?"));

    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "AA", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
[regions.r]
size = "4KiB"
maps = [{ domain = "b", at = 0x4000_0000, rights = "rw" }]
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_eq!(errs[0].message, "no partition is named `AA`");
    assert_eq!(errs[0].at, (4, 26));
    assert_eq!(errs[1].message, "partition `A` has no window");
    assert_eq!(errs[1].at, (5, 13));
    assert_eq!(errs[2].message, "no domain is named `b`");
    assert_eq!(errs[2].at, (12, 20));
}

#[test]
fn unknown_interface() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.s]
program = "s"
partition = "A"
priority = 10
[domains.c]
program = "c"
partition = "A"
priority = 10
[channels.e]
kind = "endpoint"
interface = "Ecoh"
to = "s"
from = [{ domain = "c", badge = 1 }]
"#;
    let e = one_error(text, "no interface is named `Ecoh`", 16, 13);
    assert_eq!(e.help.as_deref(), Some("did you mean `Echo`?"));
    let sys = run(&text.replace("Ecoh", "Echo")).system.unwrap();
    let iface = sys.channels[0].interface.as_ref().unwrap();
    assert_eq!((iface.ordinal, iface.version), (0x0101, 1));
}

#[test]
fn schema_versions() {
    let e = one_error(
        &VALID.replace("schema = 1", "schema = 2"),
        "schema version 2",
        1,
        10,
    );
    assert!(e.help.unwrap().contains("this tool reads schema 1"));
    let e = one_error(
        &VALID.replace("schema = 1\n", "\n"),
        "has no `schema` version",
        1,
        1,
    );
    assert!(e.help.unwrap().contains("schema = 1"));
}

const TWO_REGIONS: &str = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
[regions.one]
size = "8KiB"
maps = [{ domain = "a", at = 0x4000_0000, rights = "rw" }]
[regions.two]
size = "4KiB"
maps = [{ domain = "a", at = 0x4000_1000, rights = "r" }]
"#;

#[test]
fn overlapping_mappings_in_one_address_space() {
    let e = one_error(
        TWO_REGIONS,
        "two mappings overlap in `a`'s address space",
        15,
        9,
    );
    assert!(
        e.message.contains("0x40001000..0x40002000"),
        "{}",
        e.message
    );
    let (at, label) = secondary_at(TWO_REGIONS, &e, 0);
    assert_eq!(at, (12, 9));
    assert_eq!(label, "the other mapping");
    // The same addresses in two different domains are fine.
    assert!(
        run(&TWO_REGIONS.replace("0x4000_1000", "0x4000_2000"))
            .system
            .is_some()
    );

    let text = TWO_REGIONS.replace("0x4000_1000", "0x7fff_fffe_e000");
    one_error(&text, "overlaps the stack and its guard page", 15, 9);
    let text = TWO_REGIONS.replace("0x4000_1000", "0x10_0000");
    one_error(&text, "overlaps the program window", 15, 9);
    let text = TWO_REGIONS.replace("0x4000_1000", "0x4000_1800");
    one_error(&text, "address 0x40001800 is not page-aligned", 15, 30);
    let text = TWO_REGIONS.replace("0x4000_1000", "0x8000_0000_0000");
    one_error(&text, "is not user memory", 15, 9);
}

#[test]
fn device_memory_overlapping_a_region() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
device_memory = [{ phys = 0xfeb0_0000, size = "4KiB", at = 0x4000_0000, rights = "rw" }]
[regions.one]
size = "4KiB"
maps = [{ domain = "a", at = 0x4000_0000, rights = "rw" }]
"#;
    let e = one_error(text, "two mappings overlap", 10, 18);
    assert_eq!(secondary_at(text, &e, 0).0, (13, 9));
}

const DRIVERS: &str = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.serial]
program = "serial"
partition = "A"
priority = 10
irqs = [4, 11]
io_ports = [{ base = 0x3f8, count = 8 }]
device_memory = [{ phys = 0xfeb0_0000, size = "8KiB", at = 0x4000_0000, rights = "rw" }]
[domains.net]
program = "net"
partition = "A"
priority = 10
irqs = [11]
io_ports = [{ base = 0x3fc, count = 2 }]
device_memory = [{ phys = 0xfeb0_1000, size = "4KiB", at = 0x4000_0000, rights = "rw" }]
"#;

#[test]
fn grants_given_twice() {
    let errs = errors(DRIVERS);
    assert_eq!(errs.len(), 3, "{errs:#?}");

    assert_eq!(errs[0].message, "IRQ 11 is granted twice");
    assert_eq!(errs[0].at, (17, 9));
    assert_eq!(
        secondary_at(DRIVERS, &errs[0].d, 0),
        (
            (10, 12),
            "IRQ 11 first granted here, to domain `serial`".into()
        )
    );

    assert_eq!(
        errs[1].message,
        "I/O ports 0x3fc..=0x3fd overlap I/O ports 0x3f8..=0x3ff, granted before"
    );
    assert_eq!(errs[1].at, (18, 13));
    assert_eq!(secondary_at(DRIVERS, &errs[1].d, 0).0, (11, 13));

    assert_eq!(
        errs[2].message,
        "physical memory 0xfeb01000..0xfeb02000 overlaps physical memory 0xfeb00000..0xfeb02000, granted before"
    );
    assert_eq!(errs[2].at, (19, 18));
    assert_eq!(secondary_at(DRIVERS, &errs[2].d, 0).0, (12, 18));
}

#[test]
fn grants_given_to_a_domain_and_a_guest() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.vmm]
program = "vmm"
partition = "A"
priority = 10
io_ports = [{ base = 0x60, count = 1 }]
[guests.linux]
vmm = "vmm"
partition = "A"
memory = "64MiB"
kernel = "linux"
io_ports = [{ base = 0x60, count = 5 }]
priority = 5
"#;
    let e = one_error(
        text,
        "I/O ports 0x60..=0x64 overlap I/O port 0x60, granted before",
        16,
        13,
    );
    assert_eq!(
        secondary_at(text, &e, 0),
        (
            (10, 13),
            "I/O port 0x60 first granted here, to domain `vmm`".into()
        )
    );
    let sys = run(&text.replace("base = 0x60, count = 5", "base = 0x61, count = 4"))
        .system
        .unwrap();
    assert_eq!(sys.guests[0].io_ports[0].first, 0x61);
    assert_eq!(sys.guests[0].memory, 64 << 20);
}

#[test]
fn windows_that_overlap_or_overrun() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [
    { partition = "A", length = "6ms" },
    { partition = "A", start = "5ms", length = "5ms" },
]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
"#;
    let e = one_error(
        text,
        "starts at 5ms, before the previous one ends at 6ms",
        6,
        32,
    );
    assert_eq!(
        secondary_at(text, &e, 0),
        ((5, 5), "the previous window".into())
    );

    let text = text.replace("start = \"5ms\"", "start = \"6ms\"");
    let e = one_error(&text, "ends at 11ms, after the 10ms major frame", 6, 5);
    assert_eq!(
        secondary_at(&text, &e, 0),
        ((3, 15), "the major frame".into())
    );

    // A window without a start follows the previous one.
    let text = text.replace("start = \"6ms\", length = \"5ms\"", "length = \"4ms\"");
    let sys = run(&text).system.unwrap();
    assert_eq!(sys.windows[1].start_ns, 6_000_000);
}

#[test]
fn partitions_and_domains_must_meet() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[partitions.B]
[domains.a]
program = "a"
partition = "A"
priority = 10
[domains.b]
program = "b"
priority = 10
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(errs[0].message, "partition `B` has no window");
    assert_eq!(errs[0].at, (6, 13));
    assert_eq!(errs[1].message, "domain `b` has no partition");
    assert_eq!(errs[1].at, (11, 10));
    assert!(
        errs[1]
            .d
            .help
            .as_ref()
            .unwrap()
            .contains("the partitions are: `A`, `B`")
    );
}

#[test]
fn quotas_larger_than_the_machine() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
memory = "40MiB"
[domains.b]
program = "b"
partition = "A"
priority = 10
memory = "30MiB"
"#;
    let small = Options {
        machine_memory: 64 << 20,
        ..options()
    };
    let errs: Vec<Found> = findings(text, &small);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(
        errs[0].message,
        "the quotas add up to 70.1MiB, more than the machine's 64MiB"
    );
    assert_eq!(errs[0].at, (10, 10));
    assert_eq!(secondary_at(text, &errs[0].d, 0).0, (15, 10));
    // The same file fits the default machine.
    assert!(run(text).system.is_some());
}

#[test]
fn priority_above_its_maximum() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 20
max_priority = 15
"#;
    let e = one_error(text, "priority 20, above its maximum priority 15", 9, 12);
    assert_eq!(
        secondary_at(text, &e, 0),
        ((10, 16), "the maximum priority".into())
    );
    one_error(
        &text.replace("20", "300"),
        "priority 300 is out of range",
        9,
        12,
    );
}

const CALL: &str = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.server]
program = "s"
partition = "A"
priority = 50
[domains.client]
program = "c"
partition = "A"
priority = 60
[channels.echo]
kind = "endpoint"
to = "server"
from = [{ domain = "client", badge = 1 }]
"#;

#[test]
fn calls_to_a_lower_priority_server() {
    let e = one_error(
        CALL,
        "`client` (priority 60) calls `server` (priority 50) through `echo`: a priority inversion",
        17,
        20,
    );
    assert_eq!(secondary_at(CALL, &e, 0).0, (9, 12));
    assert!(e.help.unwrap().contains("allow_priority_inversion = true"));

    let allowed = CALL.replace("from = [", "allow_priority_inversion = true\nfrom = [");
    assert!(run(&allowed).system.is_some());
    let equal = CALL.replace("priority = 60", "priority = 50");
    assert!(run(&equal).system.is_some(), "equal priorities are fine");
    // A notification may go either way.
    let signal = CALL.replace("\"endpoint\"", "\"notification\"");
    assert!(run(&signal).system.is_some());
}

#[test]
fn badges_on_one_channel_are_unique() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.s]
program = "s"
partition = "A"
priority = 10
[domains.a]
program = "c"
partition = "A"
priority = 10
[domains.b]
program = "c"
partition = "A"
priority = 10
[channels.echo]
kind = "endpoint"
to = "s"
from = [
    { domain = "a", badge = 7 },
    { domain = "b", badge = 7 },
]
"#;
    let e = one_error(text, "badge 7 is given twice on channel `echo`", 23, 29);
    assert_eq!(
        secondary_at(text, &e, 0),
        ((22, 29), "first given to `a` here".into())
    );
    // Two unbadged callers cannot be told apart either.
    let unbadged = text.replace(", badge = 7", "");
    one_error(&unbadged, "badge 0 is given twice", 23, 5);

    let signal = text.replace("\"endpoint\"", "\"notification\"").replace(
        "badge = 7 },\n    { domain = \"b\", badge = 7",
        "badge = 1 },\n    { domain = \"b\", badge = 0",
    );
    one_error(&signal, "with badge 0 would set no bit", 23, 29);
}

#[test]
fn restart_policies() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
restart = { max = 3, within = "1s", backoff = "1s..10ms", then = "restart-group" }
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(
        errs[0].message,
        "the backoff of domain `a` starts at 1s but ends at 10ms"
    );
    assert_eq!(errs[0].at, (10, 47));
    assert_eq!(
        errs[1].message,
        "domain `a` restarts its group but is in none"
    );
    assert_eq!(errs[1].at, (10, 66));

    let fixed = text
        .replace("1s..10ms", "10ms..1s")
        .replace("restart = ", "group = \"g\"\nrestart = ");
    let sys = run(&fixed).system.unwrap();
    let r = sys.domains[0].restart;
    assert_eq!(
        (r.max, r.within_ns, r.backoff_min_ns, r.backoff_max_ns),
        (3, 1_000_000_000, 10_000_000, 1_000_000_000)
    );
}

#[test]
fn unused_things_are_warnings() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [
    { partition = "A", length = "5ms" },
    { partition = "B", length = "5ms" },
]
[partitions.A]
[partitions.B]
[domains.a]
program = "a"
partition = "A"
priority = 10
[channels.quiet]
kind = "notification"
to = "a"
[regions.spare]
size = "4KiB"
"#;
    let r = run(text);
    assert!(r.system.is_some(), "warnings do not refuse a description");
    let w = warnings(text);
    let got: Vec<(&str, (usize, usize))> = w.iter().map(|f| (f.message.as_str(), f.at)).collect();
    assert_eq!(
        got,
        vec![
            ("nothing runs in partition `B`", (9, 13)),
            ("nobody signals through channel `quiet`", (14, 11)),
            ("nobody maps region `spare`", (17, 10)),
        ]
    );
}

#[test]
fn calls_across_partitions_are_warned_about() {
    let text = CALL
        .replace(
            "windows = [{ partition = \"A\", length = \"10ms\" }]\n[partitions.A]",
            "windows = [{ partition = \"A\", length = \"5ms\" }, { partition = \"B\", length = \"5ms\" }]\n[partitions.A]\n[partitions.B]",
        )
        .replace("priority = 60", "priority = 50")
        .replace("program = \"c\"\npartition = \"A\"", "program = \"c\"\npartition = \"B\"");
    let w = warnings(&text);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].message, "`client` calls `server` in another partition");
    assert!(w[0].d.notes[0].contains("waits for the server's window"));
}

#[test]
fn five_different_errors_are_reported_together() {
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "12ms" }]
[partitions.A]
[domains.server]
program = "s"
partition = "A"
priority = 10
irqs = [11]
[domains.client]
program = "c"
partition = "Z"
priority = 20
max_priority = 30
stak = "8KiB"
irqs = [11]
[channels.echo]
kind = "endpoint"
to = "server"
from = [{ domain = "client", badge = 1 }]
"#;
    let errs = errors(text);
    let got: Vec<(&str, (usize, usize))> =
        errs.iter().map(|f| (f.message.as_str(), f.at)).collect();
    assert_eq!(
        got,
        vec![
            (
                "this window ends at 12ms, after the 10ms major frame",
                (4, 12)
            ),
            ("no partition is named `Z`", (13, 13)),
            ("unknown field `stak`", (16, 1)),
            ("IRQ 11 is granted twice", (17, 9)),
            (
                "`client` (priority 20) calls `server` (priority 10) through `echo`: a priority inversion",
                (21, 20)
            ),
        ]
    );
    let rendered = run(text).render("five.toml", text, false);
    for at in [
        "five.toml:4:12",
        "five.toml:13:13",
        "five.toml:16:1",
        "five.toml:17:9",
        "five.toml:21:20",
    ] {
        assert!(rendered.contains(at), "{at} missing from\n{rendered}");
    }
    assert!(
        rendered.contains("help: did you mean `stack`?"),
        "{rendered}"
    );
}

#[test]
fn missing_required_fields() {
    let text = r#"schema = 1
[partitions.A]
[domains.a]
partition = "A"
[channels.c]
to = "a"
[regions.r]
maps = [{ domain = "a" }]
"#;
    let errs = errors(text);
    let got: Vec<(&str, (usize, usize))> =
        errs.iter().map(|f| (f.message.as_str(), f.at)).collect();
    assert_eq!(
        got,
        vec![
            ("the description has no `[time]` schedule", (1, 1)),
            ("domain `a` has no `program`", (3, 10)),
            ("domain `a` has no `priority`", (3, 10)),
            ("channel `c` has no `kind`", (5, 11)),
            ("region `r` has no `size`", (7, 10)),
            ("a mapping of region `r` has no `at` address", (8, 9)),
            ("a mapping of region `r` has no `rights`", (8, 9)),
        ]
    );
}

#[test]
fn names_that_cannot_be_boot_image_names() {
    let text = VALID.replace("program = \"a\"", "program = \"a b\"");
    one_error(&text, "`a b` cannot name a program", 7, 11);
}

#[test]
fn not_toml_at_all() {
    let errs = errors("schema = 1\n[domains.a\npriority = 1\n");
    assert!(!errs.is_empty());
    assert!(errs[0].message.starts_with("this is not valid TOML"));
    assert_eq!(errs[0].at.0, 2);
}

#[test]
fn huge_numbers_are_errors_not_overflows() {
    let text = VALID.replace(
        "priority = 10",
        "priority = 10\nmemory = \"16777215TiB\"\nstack = \"16777215TiB\"",
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.message.contains("larger than the 256MiB")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.message.contains("the quotas add up to")),
        "{errs:#?}"
    );
    let text = VALID.replace(
        "length = \"10ms\"",
        "start = \"18446744073s\", length = \"18446744073s\"",
    );
    assert!(!errors(&text).is_empty());
}

#[test]
fn asid_pools_are_disjoint_and_bounded() {
    use septum_sysdesc::image::Object;
    let text = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "10ms" }]
[partitions.A]
[domains.a]
program = "a"
partition = "A"
priority = 10
asids = 64
slots = 5000
[domains.b]
program = "b"
partition = "A"
priority = 10
asids = 1000
"#;
    let r = run(text);
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    let sys = r.system.expect("a system");
    let pool = |d: usize| {
        sys.domains[d]
            .caps
            .iter()
            .find(|c| matches!(c.object, Object::AsidPool { .. }))
            .map(|c| (c.slot, c.object))
    };
    assert_eq!(
        pool(0),
        Some((
            6,
            Object::AsidPool {
                first: 4032,
                count: 64
            }
        ))
    );
    assert_eq!(
        pool(1),
        Some((
            6,
            Object::AsidPool {
                first: 3032,
                count: 1000
            }
        ))
    );
    assert!(1u64 << sys.domains[0].cnode_radix >= 5000 + 8);
    assert_eq!(sys.domains[1].cnode_radix, 8, "no `slots`: the default");
    // The decoder takes what the checker made.
    let bytes = sys.encode().expect("encodes");
    assert!(septum_sysdesc::image::System::decode(&bytes).is_ok());

    let over = text.replace("asids = 1000", "asids = 1000\n[domains.c]\nprogram = \"c\"\npartition = \"A\"\npriority = 10\nasids = 1000");
    one_error(&over, "`asids` add up to more than 2048", 21, 9);
    one_error(
        &VALID.replace("priority = 10", "priority = 10\nasids = 0"),
        "ASID count 0 is out of range",
        10,
        9,
    );
}

const VMM: &str = r#"schema = 1
[time]
major_frame = "10ms"
windows = [{ partition = "A", length = "5ms" }, { partition = "B", length = "5ms" }]
[partitions.A]
[partitions.B]
[domains.vmm]
program = "vmm"
partition = "A"
priority = 120
memory = "64KiB"
asids = 2
[domains.console]
program = "console"
partition = "A"
priority = 130
[channels.tty]
kind = "endpoint"
to = "console"
from = [{ domain = "vmm", badge = 7 }]
[guests.linux]
vmm = "vmm"
partition = "A"
memory = "48MiB"
kernel = "l4linux-shim"
priority = 100
asids = 64
slots = 1000
restart = { max = 3, within = "60s", then = "hold" }
"#;

#[test]
fn a_vmm_holds_its_guest_memory_asids_devices_and_kernel() {
    use septum_sysdesc::image::{Mapped, Object};
    let sys = run(VMM).system.expect("the description checks");
    let vmm = &sys.domains[0];
    let g = &sys.guests[0];
    // Slot 8: what the guest's kernel is built from; then its quota, as
    // `memory` splits; then the channel end the guest gets.
    let objects: Vec<(u32, Object)> = vmm.caps.iter().map(|c| (c.slot, c.object)).collect();
    assert!(
        objects.contains(&(8, Object::GuestBuild { guest: 0 })),
        "{objects:?}"
    );
    assert!(objects.contains(&(
        9,
        Object::GuestMemory {
            guest: 0,
            size_bits: 25
        }
    )));
    assert!(objects.contains(&(
        10,
        Object::GuestMemory {
            guest: 0,
            size_bits: 24
        }
    )));
    assert!(objects.contains(&(11, Object::Endpoint { channel: 0 })));
    // The vmm's pool: its own 2 ids, the guest kernel's, the guest's 64.
    let Some((6, Object::AsidPool { first, count })) = objects
        .iter()
        .copied()
        .find(|(_, o)| matches!(o, Object::AsidPool { .. }))
    else {
        panic!("no ASID pool in slot 6: {objects:?}");
    };
    assert_eq!(count, 2 + 1 + 64);
    assert_eq!(g.asid_first, first + 3);
    assert_eq!(g.asid_count, 64);
    // The guest's CNode: 8 fixed, 1 device, 2 quota pieces, 1000 free.
    assert_eq!(g.cnode_radix, 11);
    assert!(
        vmm.maps
            .iter()
            .any(|m| m.what == Mapped::GuestKernel { guest: 0 } && m.vaddr == 0x10_0000_0000)
    );
    assert_eq!(sys.programs(), ["vmm", "console", "l4linux-shim"]);
    // The compiled form decodes and checks.
    let bytes = sys.encode().unwrap();
    let decoded = septum_sysdesc::image::System::decode(&bytes).expect("decodes");
    assert_eq!(decoded.guests.get(0).unwrap().asid_first, g.asid_first);
}

#[test]
fn a_guest_must_fit_its_vmm() {
    let e = one_error(
        &VMM.replace(
            "partition = \"A\"\nmemory = \"48MiB\"",
            "partition = \"B\"\nmemory = \"48MiB\"",
        ),
        "guest `linux` is not in its vmm `vmm`'s partition",
        23,
        13,
    );
    assert!(e.help.unwrap().contains("own vmm's partition"));
    one_error(
        &VMM.replace("priority = 100", "priority = 121"),
        "guest `linux` has priority 121, above its vmm `vmm`'s maximum priority 120",
        26,
        12,
    );
    one_error(
        &VMM.replace("then = \"hold\"", "then = \"reboot\""),
        "may only end in `hold`",
        29,
        11,
    );
    let two = format!(
        "{VMM}[guests.other]\nvmm = \"vmm\"\npartition = \"A\"\nmemory = \"1MiB\"\nkernel = \"k\"\npriority = 1\n"
    );
    one_error(&two, "guests `linux` and `other` have the same vmm", 30, 9);
}
