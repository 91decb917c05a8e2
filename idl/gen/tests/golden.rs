//! Golden test of the generated code for the reference interface
//! (`idl/echo.idl` → `tests/golden/echo.rs`), and tests of every kind of
//! mistake a definition can make: each must be reported at the right place
//! with the right words.

use septum_idlgen::{PAYLOAD_CAPACITY, generate, parse};
use std::path::{Path, PathBuf};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Lines of `want` and `got` that differ, after the common start and end.
fn diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let start = w.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let end = w[start..]
        .iter()
        .rev()
        .zip(g[start..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = format!("first difference at line {}:\n", start + 1);
    let removed = &w[start..w.len() - end];
    let added = &g[start..g.len() - end];
    for l in removed.iter().take(40) {
        out.push_str(&format!("-{l}\n"));
    }
    if removed.len() > 40 {
        out.push_str(&format!(
            "  ... {} more removed lines\n",
            removed.len() - 40
        ));
    }
    for l in added.iter().take(40) {
        out.push_str(&format!("+{l}\n"));
    }
    if added.len() > 40 {
        out.push_str(&format!("  ... {} more added lines\n", added.len() - 40));
    }
    out
}

#[test]
fn echo_matches_golden() {
    let src =
        std::fs::read_to_string(manifest_dir().join("../echo.idl")).expect("read idl/echo.idl");
    let iface = parse("echo.idl", &src).unwrap_or_else(|e| panic!("echo.idl: {e}"));
    let got = generate(&iface);
    let golden: PathBuf = manifest_dir().join("tests/golden/echo.rs");
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&golden, &got).expect("write the golden file");
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    if got != want {
        panic!(
            "generated code for idl/echo.idl differs from {} (- golden, + generated)\n{}\n\
             If the change is intended, run with UPDATE_GOLDEN=1 to accept",
            golden.display(),
            diff(&want, &got)
        );
    }
}

/// The generator lays code out as rustfmt would, for the reference interface
/// and for edge cases (skipped where rustfmt is not installed).
#[test]
fn output_is_rustfmt_clean() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    for (name, path) in [
        ("echo.idl", "../echo.idl"),
        ("stress.idl", "tests/stress.idl"),
    ] {
        let src = std::fs::read_to_string(manifest_dir().join(path)).expect("read the definition");
        let code = generate(&parse(name, &src).unwrap_or_else(|e| panic!("{e}")));
        let child = Command::new("rustfmt")
            .args(["--edition", "2024", "--emit", "stdout"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("rustfmt not found: layout not checked");
            return;
        };
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(code.as_bytes())
            .expect("write to rustfmt");
        let out = child.wait_with_output().expect("run rustfmt");
        assert!(out.status.success(), "rustfmt rejected the code for {name}");
        let formatted = String::from_utf8(out.stdout).expect("utf-8");
        assert!(
            formatted == code,
            "code for {name} is not laid out as rustfmt would (- generated, + rustfmt)\n{}",
            diff(&code, &formatted)
        );
    }
}

#[test]
fn generation_is_deterministic() {
    let src =
        std::fs::read_to_string(manifest_dir().join("../echo.idl")).expect("read idl/echo.idl");
    let a = generate(&parse("echo.idl", &src).expect("parse"));
    let b = generate(&parse("echo.idl", &src).expect("parse"));
    assert_eq!(a, b);
}

/// Worst-case sizes of the reference interface, worked out by hand from
/// postcard's encoding.
#[test]
fn echo_sizes() {
    let src =
        std::fs::read_to_string(manifest_dir().join("../echo.idl")).expect("read idl/echo.idl");
    let iface = parse("echo.idl", &src).expect("parse");
    let sizes: Vec<(&str, usize, usize)> = iface
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.request_max, m.reply_max))
        .collect();
    let widths = 1 + 3 + 5 + 10 + 1 + 3 + 5 + 10;
    let point = 5 + 5;
    assert_eq!(
        sizes,
        [
            // string<64> (1 + 64) and a 3-variant enum; reply string<64>.
            ("echo", 65 + 1, 65),
            ("add", 5 + 5, 10),
            ("sum", widths, 10),
            ("increment", widths, widths),
            // The smallest reply is the 3-byte version of VersionMismatch.
            ("invert", 1, 3),
            ("next_mode", 1, 3),
            ("move_to", point + 1, 3),
            ("position", 0, point),
            // Rect: two points and string<16>.
            ("area", 2 * point + 17, 10),
            // bytes<256>: 2-byte length.
            ("checksum", 258, 5),
            ("reverse", 65, 33),
            ("read", 10, 33),
            ("signal", 1 + 10, 3),
            ("transfer", 4, 3),
        ]
    );
    assert_eq!(iface.ordinal, 0x0101);
    assert_eq!(iface.version, 1);
}

#[test]
fn largest_message_that_fits() {
    // 514 + 21 + 1 = 536 bytes exactly: the largest request.
    let fits = "interface T { ordinal = 1; version = 1;\n\
                method m(a: bytes<512>, b: bytes<20>, c: u8) -> bytes<512>; }";
    let iface = parse("t.idl", fits).expect("fits");
    assert_eq!(iface.methods[0].request_max, PAYLOAD_CAPACITY);
    assert_eq!(iface.methods[0].reply_max, 514);
    let over = "interface T { ordinal = 1; version = 1;\n\
                method m(a: bytes<512>, b: bytes<20>, c: u16) -> (); }";
    assert_eq!(
        parse("t.idl", over).unwrap_err().to_string(),
        "t.idl:2:8: method 'm' does not fit in a message: its request can take 538 bytes and \
         its reply 3 bytes, more than the 536-byte payload capacity; lower the string/bytes \
         bounds or pass bulk data as a 'region'"
    );
}

/// A definition with one mistake, and the exact message for it.
const MISTAKES: &[(&str, &str)] = &[
    // Lexing.
    (
        "interface T { ordinal = 1; version = 1; method m() -> u8; } #",
        "t.idl:1:61: unexpected character '#'; definitions use ASCII names, numbers and the punctuation { } ( ) < > , ; : = + ! ->",
    ),
    (
        "interface T {\n  /* no */\n}",
        "t.idl:2:3: unexpected '/'; comments start with '//'",
    ),
    (
        "interface T {\n  ordinal = 0x;\n}",
        "t.idl:2:13: '0x' has no digits; write a hexadecimal number like 0x0101",
    ),
    (
        "interface T {\n  ordinal = 99999999999999999999;\n}",
        "t.idl:2:13: number '99999999999999999999' does not fit in 64 bits; use a smaller value",
    ),
    (
        "interface T {\n  ordinal = 12ab;\n}",
        "t.idl:2:13: invalid number '12ab'; write a decimal number or a hexadecimal one starting with 0x",
    ),
    (
        "interface T {\n  enum E { A = -1 }\n}",
        "t.idl:2:16: unexpected '-'; numbers cannot be negative; did you mean '->'?",
    ),
    // Syntax.
    (
        "struct S { a: u8 }",
        "t.idl:1:1: expected 'interface', found 'struct'; a definition file holds one 'interface Name { ... }'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m() -> u8;\n",
        "t.idl:5:1: the interface is not closed; end the interface with '}'",
    ),
    (
        "interface T {\n  ordinal = 1\n  version = 1;\n}",
        "t.idl:3:3: expected ';' after the ordinal, found 'version'; end the line with ';'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  function m() -> u8;\n}",
        "t.idl:4:3: unknown item 'function'; an interface holds 'ordinal', 'version', 'enum', 'error', 'struct' and 'method' items",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(a: u8);\n}",
        "t.idl:4:18: expected '->' after the arguments, found ';'; every method declares its result: '-> type' or '-> ()'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(a: u8 b: u8) -> ();\n}",
        "t.idl:4:18: expected ',' or ')' after an argument, found 'b'; separate items with ',' and end the list with ')'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  enum E { A, B }\n  method m() -> E;\n}",
        "t.idl:4:13: expected '=' after the variant name, found ','; give every variant an explicit value: 'Name = <value>'",
    ),
    (
        "interface T { ordinal = 1; version = 1; method m() -> u8; }\ninterface U { }",
        "t.idl:2:1: unexpected 'interface' after the end of the interface; put each interface in its own file and nothing after its closing '}'",
    ),
    // Header.
    (
        "interface Echo {\n  ordinal = 0;\n}",
        "t.idl:2:13: ordinal 0 is reserved; pick a value from 1 to 0xffff",
    ),
    (
        "interface T {\n  ordinal = 0x10000;\n}",
        "t.idl:2:13: ordinal 0x10000 does not fit in u16; pick a value from 1 to 0xffff",
    ),
    (
        "interface T {\n  ordinal = 1;\n  method m() -> u8;\n}",
        "t.idl:1:11: interface 'T' has no version; add 'version = 1;'",
    ),
    (
        "interface T {\n  version = 1;\n  method m() -> u8;\n}",
        "t.idl:1:11: interface 'T' has no ordinal; add 'ordinal = <number>;' with a number from 1 to 0xffff",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  version = 2;\n}",
        "t.idl:4:3: version given twice; keep one 'version = ...;'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n}",
        "t.idl:1:11: interface 'T' has no methods; add at least one 'method name(args) -> result;'",
    ),
    // Types.
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method echo(text: strng<64>) -> ();\n}",
        "t.idl:4:21: unknown type 'strng'; did you mean 'string<N>'?",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct Point { x: i32 }\n  method m(p: Pont) -> ();\n}",
        "t.idl:5:15: unknown type 'Pont'; did you mean 'Point'?",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(p: Thing) -> ();\n}",
        "t.idl:4:15: unknown type 'Thing'; declare it with 'struct', 'enum' or 'error', or use a built-in type",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(s: string) -> ();\n}",
        "t.idl:4:15: 'string' needs a bound; write 'string<N>' with N from 1 to 512",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(b: bytes<513>) -> ();\n}",
        "t.idl:4:21: bytes bound 513 is out of range; use a bound from 1 to 512 (pass bigger data in a 'region')",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(s: string<0>) -> ();\n}",
        "t.idl:4:22: string bound 0 is out of range; use a bound from 1 to 512 (pass bigger data in a 'region')",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct A { b: B }\n  struct B { a: A }\n  method m(a: A) -> ();\n}",
        "t.idl:5:17: struct 'A' contains itself (A -> B -> A); structs cannot be recursive; remove the field or break the cycle",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(x: ()) -> ();\n}",
        "t.idl:4:15: 'x' has type '()'; '()' is only a method result; remove the argument or field",
    ),
    // Enums and errors.
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  enum Mode { Plain = 0, Shout = 256 }\n  method m() -> Mode;\n}",
        "t.idl:4:34: value 256 of 'Shout' does not fit in u8; use a value from 0 to 255",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  error E { Bad = 0 }\n  method m() -> () ! E;\n}",
        "t.idl:4:19: error value 0 is reserved; start error values at 1",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  error E { TooLong = 1, Forbidden = 1 }\n  method m() -> () ! E;\n}",
        "t.idl:4:26: value 1 of 'Forbidden' is already used by 'TooLong'; give each variant its own value",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  enum E {}\n  method m() -> E;\n}",
        "t.idl:4:8: enum 'E' has no variants; add at least one 'Name = <value>'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  enum Mode { A = 0 }\n  method m() -> () ! Mode;\n}",
        "t.idl:5:22: 'Mode' after '!' is not an error type; declare it with 'error Mode { ... }'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  error EchoError { A = 1 }\n  method m() -> () ! EchoErr;\n}",
        "t.idl:5:22: unknown error type 'EchoErr'; did you mean 'EchoError'?",
    ),
    // Names.
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct point { x: i32 }\n  method m() -> ();\n}",
        "t.idl:4:10: type name 'point' is not UpperCamelCase; rename it to 'Point'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method MoveTo() -> ();\n}",
        "t.idl:4:10: method name 'MoveTo' is not snake_case; rename it to 'move_to'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct P { xPos: i32 }\n  method m() -> ();\n}",
        "t.idl:4:14: field name 'xPos' is not snake_case; rename it to 'x_pos'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct P { x: i32 }\n  enum P { A = 0 }\n  method m() -> ();\n}",
        "t.idl:5:8: type 'P' is already declared at line 4; rename one of them",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m() -> ();\n  method m(a: u8) -> ();\n}",
        "t.idl:5:10: method 'm' is already declared at line 4; rename one of them",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(a: u8, a: u16) -> ();\n}",
        "t.idl:4:19: argument 'a' is already declared at line 4; rename one of them",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct S { type: u8 }\n  method m() -> ();\n}",
        "t.idl:4:14: field name 'type' is a Rust keyword; pick another name",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(ctx: u8) -> ();\n}",
        "t.idl:4:12: argument name 'ctx' is used by the generated code; rename the argument",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct TClient { x: u8 }\n  method m() -> ();\n}",
        "t.idl:4:10: type name 'TClient' is the name of the generated client; rename the type",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct Result { x: u8 }\n  method m() -> ();\n}",
        "t.idl:4:10: type name 'Result' is reserved in Rust; pick another name",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method new() -> ();\n}",
        "t.idl:4:10: method name 'new' is used by the generated client; rename the method",
    ),
    // Capabilities.
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(n: cap<Notifcation, write>) -> ();\n}",
        "t.idl:4:19: unknown capability kind 'Notifcation'; did you mean 'Notification'?",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(n: cap<Endpoint, wirte>) -> ();\n}",
        "t.idl:4:29: unknown right 'wirte'; did you mean 'write'?",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(n: cap<Notification, grant>) -> ();\n}",
        "t.idl:4:33: Notification capabilities have no 'grant' right; use read, write or any",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(t: cap<Tcb, write>) -> ();\n}",
        "t.idl:4:24: Tcb capabilities carry no rights; write 'cap<Tcb, any>'",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(e: cap<Endpoint, read+any>) -> ();\n}",
        "t.idl:4:34: 'any' cannot be combined with other rights; write either 'any' or the rights needed",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(e: cap<Endpoint, read+read>) -> ();\n}",
        "t.idl:4:34: right 'read' given twice; name each right once",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m(a: cap<Frame, any>, b: cap<Frame, any>,\n           c: cap<Frame, any>, d: cap<Frame, any>) -> ();\n}",
        "t.idl:5:35: method 'm' has more than 3 capability arguments; a message transfers at most 3 capabilities; split the method",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  struct S { n: cap<Notification, any> }\n  method m(s: S) -> ();\n}",
        "t.idl:4:17: field 'n' is a capability; capabilities travel only as method arguments; pass it as an argument",
    ),
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method m() -> cap<Frame, read>;\n}",
        "t.idl:4:17: method 'm' returns a capability; capabilities travel only as method arguments",
    ),
    // Size.
    (
        "interface T {\n  ordinal = 1;\n  version = 1;\n  method big(a: string<512>, b: string<512>) -> string<512>;\n}",
        "t.idl:4:10: method 'big' does not fit in a message: its request can take 1028 bytes and its reply 514 bytes, more than the 536-byte payload capacity; lower the string/bytes bounds or pass bulk data as a 'region'",
    ),
];

#[test]
fn every_mistake_is_reported_where_it_is() {
    let mut failures = Vec::new();
    for (src, want) in MISTAKES {
        match parse("t.idl", src) {
            Ok(_) => failures.push(format!("accepted:\n{src}\n")),
            Err(e) if e.to_string() != *want => {
                failures.push(format!("{src}\n  want: {want}\n  got:  {e}\n"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(MISTAKES.len() >= 15);
}

#[test]
fn the_contract_example_is_accepted() {
    let src = "// Line comments with //.
interface Echo {
    ordinal = 0x0101;          // u16, unique per interface, 0 reserved
    version = 1;               // u16, bumped on incompatible change

    enum Mode { Plain = 0, Shout = 1 }            // explicit u8 values
    struct Point { x: i32, y: i32 }
    error EchoError { TooLong = 1, Forbidden = 2 } // a method's error type (u8 values, 0 reserved)

    method echo(text: string<64>, mode: Mode) -> string<64> ! EchoError;
    method add(a: u32, b: u32) -> u64;
    method move_to(p: Point, flag: bool) -> ();
    method store(data: bytes<128>) -> u32 ! EchoError;
    method share(n: cap<Notification, write>) -> ();          // capability argument
    method read(r: region) -> bytes<32>;                     // bulk data: a region of the shared memory
}
";
    let iface = parse("echo.idl", src).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<u16> = iface.methods.iter().map(|m| m.id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
}

/// `build` writes one file per definition and rejects clashing files.
#[test]
fn build_over_a_directory() {
    let dir = std::env::temp_dir().join(format!("septum-idlgen-test-{}", std::process::id()));
    let (idl, out) = (dir.join("idl"), dir.join("out"));
    std::fs::create_dir_all(&idl).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    let def = |name: &str, ordinal: u16| {
        format!("interface {name} {{ ordinal = {ordinal}; version = 1; method m() -> (); }}")
    };
    std::fs::write(idl.join("block_device.idl"), def("BlockDevice", 7)).expect("write");
    std::fs::write(idl.join("notes.txt"), "not a definition").expect("write");
    let files = septum_idlgen::build(&idl, &out).expect("build");
    assert_eq!(files, [out.join("block_device.rs")]);
    let code = std::fs::read_to_string(&files[0]).expect("read");
    assert!(
        code.starts_with("// Generated by septum-idlgen from block_device.idl. Do not edit.\n")
    );
    assert!(code.contains("pub struct BlockDeviceClient {"));

    std::fs::write(idl.join("console.idl"), def("Console", 7)).expect("write");
    std::fs::write(idl.join("wrong.idl"), def("Right", 8)).expect("write");
    let err = septum_idlgen::build(&idl, &out).unwrap_err();
    assert_eq!(
        err,
        "console.idl:1:11: interface 'Console' has ordinal 0x0007, which 'block_device.idl' already uses; give every interface its own ordinal\n\
         wrong.idl:1:11: interface 'Right' is in 'wrong.idl'; rename the file to 'right.idl' (one interface per file, named after it)"
    );
    std::fs::remove_dir_all(&dir).ok();
}
