//! What `describe` shows for the checked-in descriptions, and that every
//! one of them checks.

use septum_sysdesc::check::{Options, check};
use septum_sysdesc::{describe, interfaces, model};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn options() -> Options {
    Options {
        interfaces: interfaces::load(&root().join("idl")).unwrap(),
        ..Options::default()
    }
}

fn demo_system() -> model::System {
    let text = std::fs::read_to_string(root().join("build/systems/demo.toml")).unwrap();
    let report = check(&text, &options());
    assert!(
        report.diagnostics.is_empty(),
        "{}",
        report.render("demo.toml", &text, false)
    );
    report.system.unwrap()
}

#[test]
fn every_checked_in_description_checks() {
    let dir = root().join("build/systems");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let report = check(&text, &options());
        let shown = path.display().to_string();
        assert!(
            !report.has_errors(),
            "{}",
            report.render(&shown, &text, false)
        );
        let image = report.system.unwrap().encode().unwrap();
        septum_sysdesc::image::System::decode(&image).unwrap();
        seen += 1;
    }
    assert!(seen >= 1, "no description in {}", dir.display());
}

#[test]
fn describe_shows_domains_caps_layout_channels_and_schedule() {
    let text = describe::text(&demo_system(), "build/systems/demo.toml");
    for line in [
        "system build/systems/demo.toml (schema 1)",
        "  5 domains, 3 channels, 1 region, 2 partitions, 0 guests; checked against 256MiB of machine memory",
        "time partitions: major frame 10ms, repeating",
        "  A               0ms .. 6ms      (6ms)  server, client1, serial, console",
        "  B               6ms .. 10ms     (4ms)  client2",
        "domain server: program `echo-server`, partition A, priority 100 (max 100)",
        "  memory 64KiB, stack 16KiB; restarted up to 3 times within 1s, backoff 10ms..1s, then hold",
        "  capabilities (CNode of 256 slots, slot = capability pointer; 11.. free):",
        "        1  its CNode                                      ----   -",
        "        4  its IPC buffer frame                           rw--   -",
        "        8  endpoint `echo` (Echo v1): serve               r---   -",
        "        9  reply object                                   ----   -",
        "       10  untyped 64KiB                                  ----   -",
        "        8  endpoint `echo` (Echo v1): call                -w-G   1",
        "        9  notification `mail`: signal                    -w--   1",
        "        8  notification `mail`: wait                      r---   -",
        "    0x0000_0000_0040_0000..0x0000_0000_4000_0000  program `echo-server`: its ELF segments go here",
        "    0x0000_0000_4000_0000..0x0000_0000_4000_1000  region `mailbox` 4KiB rw",
        "    0x0000_0000_4000_0000..0x0000_0000_4000_1000  region `mailbox` 4KiB r",
        "    0x0000_7fff_fffe_b000..0x0000_7fff_fffe_c000  stack guard page (unmapped)",
        "    0x0000_7fff_fffe_c000..0x0000_7fff_ffff_0000  stack 16KiB rw",
        "    0x0000_7fff_ffff_e000..0x0000_7fff_ffff_f000  IPC buffer rw",
        "  echo (endpoint Echo (ordinal 0x0101, v1)): received by server",
        "    client1 calls with badge 1",
        "  mail (notification): received by client2",
        "    client1 signals with badge 1",
        "    client2 maps it r at 0x0000_0000_4000_0000",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in\n{text}"
        );
    }
    // The time line: 6 of the 10 ms for A, the rest for B.
    let bar = text
        .lines()
        .find(|l| l.trim_start().starts_with("AAA"))
        .unwrap();
    assert_eq!(bar.trim().len(), 60);
    assert_eq!(bar.matches('A').count(), 36);
    assert_eq!(bar.matches('B').count(), 24);
}

#[test]
fn json_round_trips_and_compiles_to_the_same_image() {
    let sys = demo_system();
    let json = sys.to_json();
    assert!(json.contains("\"program\": \"echo-server\""), "{json}");
    let back = model::System::from_json(&json).unwrap();
    assert_eq!(back, sys);
    assert_eq!(back.encode().unwrap(), sys.encode().unwrap());
    assert!(model::System::from_json("{\"schema\": 1}").is_err());
}

#[test]
fn the_image_decodes_to_what_describe_shows() {
    let sys = demo_system();
    let image = sys.encode().unwrap();
    let decoded = septum_sysdesc::image::System::decode(&image).unwrap();
    assert_eq!(model::System::from_image(&decoded), sys);
    let server = decoded.domains.get(0).unwrap();
    assert_eq!(server.name, "server");
    assert_eq!(server.caps.len(), sys.domains[0].caps.len());
}

#[test]
fn dot_has_partition_clusters_and_labelled_edges() {
    let dot = describe::dot(&demo_system());
    assert!(dot.starts_with("digraph system {"), "{dot}");
    assert!(dot.contains("subgraph \"cluster_A\" {"), "{dot}");
    assert!(dot.contains("subgraph \"cluster_B\" {"), "{dot}");
    assert!(
        dot.contains("label=\"partition A (0ms..6ms of 10ms)\";"),
        "{dot}"
    );
    assert!(
        dot.contains("\"client1\" -> \"server\" [label=\"echo: Echo\\nbadge 1\", style=solid];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"client1\" -> \"client2\" [label=\"mail\\nbadge 1\", style=dashed];"),
        "{dot}"
    );
    assert!(dot.contains("\"client2\" -> \"region:mailbox\""), "{dot}");
    // Each domain sits in its partition's cluster.
    let a = &dot[dot.find("cluster_A").unwrap()..dot.find("cluster_B").unwrap()];
    assert!(
        a.contains("\"server\" [") && a.contains("\"client1\" ["),
        "{a}"
    );
    assert!(!a.contains("\"client2\" ["), "{a}");
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn docs_example_checks() {
    let doc = std::fs::read_to_string(root().join("docs/system-description.md")).unwrap();
    let start = doc.find("```toml\n").expect("an example") + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let example = &doc[start..end];
    let report = check(example, &options());
    assert!(
        report.diagnostics.is_empty(),
        "{}",
        report.render("docs example", example, false)
    );
    let sys = report.system.unwrap();
    assert_eq!(sys.domains.len(), 4);
    assert_eq!(sys.guests.len(), 1);
    let text = describe::text(&sys, "example");
    assert!(
        text.lines()
            .any(|l| l == "  idle       1ms of every 10ms ('.')"),
        "{text}"
    );
    assert!(text.contains("        9  IRQ 4 handler"), "{text}");
}
