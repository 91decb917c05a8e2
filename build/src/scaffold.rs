//! `cargo xtask new-server NAME`: a new server that builds, boots in the
//! default system and answers, for a newcomer to turn into a driver
//! (`docs/writing-a-driver.md`).
//!
//! It writes an interface (`idl/<name>.idl`, with an ordinal no other
//! interface has), its module in `septum-interfaces`, a crate
//! `servers/<name>` with the server (`<name>-server`: the generated trait
//! and the runtime's loop) and a tiny client (`<name>-client`), the
//! workspace member, the description entries (two domains in the
//! description's first partition and the endpoint between them), and a
//! scenario (`tests/scenarios/server-<name>.toml`) that boots it and checks
//! the answer. Everything is checked before anything is written: a bad
//! name, or one that any of those things already uses, is refused with
//! what to do instead.

use crate::description;
use crate::tools::{Result, Workspace};
use std::path::{Path, PathBuf};

/// The longest name: `<name>-client` must stay a short console prefix.
pub const NAME_MAX: usize = 24;

/// The first ordinal a scaffolded interface may get; below are the
/// hand-numbered ones.
pub const FIRST_ORDINAL: u16 = 0x1001;

/// Names that cannot be a module of `septum-interfaces`: Rust keywords,
/// and crates its generated code names.
const RESERVED: [&str; 60] = [
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "union", "core",
    "std", "alloc", "serde", "heapless", "postcard", "septum", "kind",
];

/// Why `name` cannot name a new server, if it cannot.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let rule = "a server's name is 1 to 24 lowercase letters and digits, starting with a letter, \
                in words joined by single '-' (like `rtc` or `uart-console`)";
    let words_ok = name.split('-').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if name.is_empty() || name.len() > NAME_MAX || !words_ok {
        return Err(format!("{name:?} cannot name a server: {rule}"));
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return Err(format!("{name:?} cannot name a server: {rule}"));
    }
    if RESERVED.contains(&snake(name).as_str()) || name.starts_with("septum") {
        return Err(format!(
            "{name:?} cannot name a server: `{}` is a Rust keyword or a name the generated code uses; \
             pick another",
            snake(name)
        ));
    }
    Ok(())
}

/// `uart-console` → `uart_console`: the module, the IDL file and the
/// binary's crate name.
pub fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// `uart-console` → `UartConsole`: the interface.
pub fn camel(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The first free ordinal from [`FIRST_ORDINAL`] on, given those taken.
pub fn free_ordinal(taken: &[u16]) -> Option<u16> {
    (FIRST_ORDINAL..=u16::MAX).find(|o| !taken.contains(o))
}

/// The interface definition.
pub fn idl(name: &str, ordinal: u16) -> String {
    let iface = camel(name);
    format!(
        "// The {name} server's interface, scaffolded by `cargo xtask new-server {name}`.\n\
         // Change it as the server needs (docs/idl.md): the build generates the\n\
         // client (`{iface}Client`) and the server trait (`{iface}Server`) again.\n\
         \n\
         /// {iface}: what the {name} server answers.\n\
         interface {iface} {{\n    \
             ordinal = {ordinal:#06x};   // unique among all interfaces\n    \
             version = 1;        // bump it on any incompatible change\n\
         \n    \
             /// Returns `x + 1`: proof that the server answers.\n    \
             method ping(x: u64) -> u64;\n\
         }}\n"
    )
}

/// The module line `septum-interfaces` needs for the interface.
pub fn interfaces_module(name: &str) -> String {
    let s = snake(name);
    format!(
        "\n/// The {name} server's interface (`idl/{s}.idl`).\npub mod {s} {{\n    \
         include!(concat!(env!(\"OUT_DIR\"), \"/{s}.rs\"));\n}}\n"
    )
}

/// The crate's manifest.
pub fn manifest(name: &str) -> String {
    format!(
        "[package]\n\
         name = \"septum-{name}\"\n\
         description = \"The {name} server (idl/{s}.idl) and a tiny client of it\"\n\
         version.workspace = true\n\
         edition.workspace = true\n\
         license.workspace = true\n\
         publish = false\n\
         \n\
         [[bin]]\n\
         name = \"{name}-server\"\n\
         path = \"src/bin/{name}-server.rs\"\n\
         test = false\n\
         bench = false\n\
         \n\
         [[bin]]\n\
         name = \"{name}-client\"\n\
         path = \"src/bin/{name}-client.rs\"\n\
         test = false\n\
         bench = false\n\
         \n\
         [dependencies]\n\
         septum-user = {{ workspace = true }}\n\
         septum-idl = {{ path = \"../../idl/rt\" }}\n\
         septum-interfaces = {{ path = \"../../idl/interfaces\" }}\n\
         \n\
         [build-dependencies]\n\
         septum-task-link = {{ workspace = true }}\n\
         \n\
         [lints]\n\
         workspace = true\n",
        s = snake(name)
    )
}

/// The crate's build script: the task linker script for its programs.
pub const BUILD_RS: &str = r#"//! Links every program of this crate with the task linker script from
//! `septum-user` (a static ELF at 4 MiB, W^X segments).
fn main() {
    septum_task_link::link_programs();
}
"#;

/// The crate's library: what its programs share.
pub fn lib_rs(name: &str) -> String {
    format!(
        r#"//! What the {name} server and its client share: their IPC buffer, and
//! the slots of their capability spaces that every domain has
//! (docs/system-description.md, "What a domain gets").
#![no_std]
#![deny(unsafe_code)]

use septum_user::ipc::Ipc;

/// The domain's own CNode: a slot's index is its capability pointer.
pub const SLOT_CNODE: u64 = 1;

/// The calling thread's IPC buffer, where the root task maps it.
pub fn ipc() -> Ipc {{
    #[allow(unsafe_code)]
    // SAFETY: the root task registers each domain thread's IPC buffer at
    // USER_IPC_BUFFER; each program makes one `Ipc`, in `main`.
    unsafe {{
        Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER)
    }}
}}
"#
    )
}

/// The server.
pub fn server_rs(name: &str) -> String {
    let (s, i) = (snake(name), camel(name));
    format!(
        r#"//! The {name} server: answers `{i}` (idl/{s}.idl) on the endpoint its
//! system description grants. Scaffolded by `cargo xtask new-server {name}`;
//! docs/writing-a-driver.md walks through making it a driver.
//!
//! Its slots (`cargo xtask describe` lists them under `domain {name}`):
//! 8 the `{name}` endpoint it serves, 9 its reply object, 10.. free.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use septum_idl::{{NoError, ReplyToken, ServerCtx}};
use septum_interfaces::{s}::{{{i}Server, serve}};
use septum_user::println;

/// The endpoint it serves.
const ENDPOINT: u64 = 8;
/// Its reply object: one caller at a time can wait for an answer.
const REPLY: u64 = 9;
/// The first free slot: capability arguments would arrive here.
const FREE: u64 = 10;

septum_user::entry!(main);

/// What the server keeps between calls.
struct {i} {{
    calls: u64,
}}

impl {i}Server for {i} {{
    // Out of line, so `break-in {name} {s}_server::{{impl#0}}::ping` finds it.
    #[inline(never)]
    fn ping(&mut self, ctx: &mut ServerCtx<'_>, x: u64, reply: ReplyToken<u64, NoError>) {{
        self.calls += 1;
        println!("ping({{x}}), call {{}}", self.calls);
        reply.ok(ctx.ipc, x.wrapping_add(1));
    }}
}}

fn main() {{
    let mut ipc = septum_{s}::ipc();
    septum_idl::reply_pool::init(&[REPLY]);
    // 1 at boot, one more each time the supervisor restarts it.
    let generation = septum_user::start_arg() as u32;
    println!("serving {i} on slot {{ENDPOINT}}, generation {{generation}}");
    let mut ctx = ServerCtx {{
        ipc: &mut ipc,
        generation,
        recv_cnode: septum_{s}::SLOT_CNODE,
        recv_first: FREE,
    }};
    serve(&mut {i} {{ calls: 0 }}, &mut ctx, ENDPOINT)
}}
"#
    )
}

/// The client.
pub fn client_rs(name: &str) -> String {
    let (s, i) = (snake(name), camel(name));
    format!(
        r#"//! A tiny client of the {name} server: one call, its answer printed.
//!
//! Its slots (`cargo xtask describe`): 8 the `{name}` endpoint it calls
//! (badge 1), 9.. free.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use septum_interfaces::{s}::{i}Client;
use septum_user::println;

/// The endpoint it calls.
const SERVER: u64 = 8;

septum_user::entry!(main);

fn main() {{
    let mut ipc = septum_{s}::ipc();
    let mut server = {i}Client::new(SERVER);
    match server.ping(&mut ipc, 41) {{
        Ok(answer) => println!("ping(41) -> {{answer}}"),
        Err(e) => println!("ping(41) failed: {{e:?}}"),
    }}
}}
"#
    )
}

/// The description entries: the server and its client in `partition`,
/// the endpoint between them.
pub fn description_entries(name: &str, partition: &str) -> String {
    let i = camel(name);
    format!(
        r#"
# The {name} server and its client, scaffolded by `cargo xtask new-server {name}`
# (docs/writing-a-driver.md). Their programs are the crate servers/{name}.
[domains.{name}]
description = "answers {i} calls"
program = "{name}-server"
partition = "{partition}"
priority = 100
stack = "16KiB"
restart = {{ max = 3, within = "1s", backoff = "10ms..1s", then = "hold" }}

[domains.{name}-client]
description = "calls the {name} server once and prints the answer"
program = "{name}-client"
partition = "{partition}"
priority = 90
stack = "16KiB"

[channels.{name}]
description = "{name}-client's calls to the {name} server"
kind = "endpoint"
interface = "{i}"
to = "{name}"
from = [{{ domain = "{name}-client", badge = 1 }}]
"#
    )
}

/// The scenario that boots the description `system` and checks the answer.
pub fn scenario(name: &str, system: &str) -> String {
    let i = camel(name);
    format!(
        r#"description = "The {name} server (servers/{name}, scaffolded by `cargo xtask new-server {name}`) boots in {system} and answers its client's call."
system = "{system}"
append = "exit_on_idle"
timeout_secs = 60
expect = [
    "root-task: domain {name}: program `{name}-server`",
    "{name}: serving {i} on slot 8, generation 1",
    "{name}: ping(41), call 1",
    "{name}-client: ping(41) -> 42",
    "no runnable threads",
]
reject = ["PANIC", "fault", "failed", "cannot build the system", "description is refused"]
verdict = "pass"
"#
    )
}

/// `Cargo.toml` with `servers/<name>` added to the workspace members,
/// after the last `servers/` member (or at the list's end).
pub fn add_member(cargo_toml: &str, name: &str) -> std::result::Result<String, String> {
    let start = cargo_toml
        .find("members = [")
        .ok_or("Cargo.toml has no `members = [` list")?;
    let end = start
        + cargo_toml[start..]
            .find("\n]")
            .ok_or("Cargo.toml's `members` list has no closing `]` on a line of its own")?;
    let list = &cargo_toml[start..end];
    let line = format!("    \"servers/{name}\",\n");
    let at = match list.rfind("\n    \"servers/") {
        Some(i) => {
            start
                + i
                + 1
                + list[i + 1..]
                    .find('\n')
                    .map_or(list.len() - i - 1, |n| n + 1)
        }
        None => end + 1,
    };
    Ok(format!("{}{line}{}", &cargo_toml[..at], &cargo_toml[at..]))
}

/// What `new-server` writes: each file and its new contents.
#[derive(Debug)]
pub struct Plan {
    /// Files to create or replace, with their contents.
    pub files: Vec<(PathBuf, String)>,
    /// The description the entries went into.
    pub system: PathBuf,
    /// The interface's name and ordinal.
    pub interface: (String, u16),
    /// The partition the domains run in.
    pub partition: String,
}

/// Check everything and decide every file, writing nothing.
pub fn plan(ws: &Workspace, name: &str, system: Option<&Path>) -> Result<Plan> {
    check_name(name)?;
    let s = snake(name);
    let root = &ws.root;
    let crate_dir = root.join("servers").join(name);
    let idl_file = root.join("idl").join(format!("{s}.idl"));
    let scenario_file = root
        .join("tests")
        .join("scenarios")
        .join(format!("server-{name}.toml"));
    for (path, what) in [
        (&crate_dir, "its crate"),
        (&idl_file, "its interface"),
        (&scenario_file, "its scenario"),
    ] {
        if path.exists() {
            return Err(format!(
                "{} exists already: a server named {name:?} (or {what}) is there; pick another name",
                ws.show(path)
            ));
        }
    }
    let known = septum_sysdesc::interfaces::load(&root.join("idl"))?;
    let iface = camel(name);
    if let Some(k) = known.iter().find(|k| k.name == iface) {
        return Err(format!(
            "an interface named {iface} exists already (ordinal {:#06x}); pick another name",
            k.ordinal
        ));
    }
    let taken: Vec<u16> = known.iter().map(|k| k.ordinal).collect();
    let ordinal = free_ordinal(&taken).ok_or("every interface ordinal is taken")?;

    let lib_path = root
        .join("idl")
        .join("interfaces")
        .join("src")
        .join("lib.rs");
    let lib = read(ws, &lib_path)?;
    if lib.contains(&format!("pub mod {s} ")) {
        return Err(format!(
            "{} has a module `{s}` already; pick another name",
            ws.show(&lib_path)
        ));
    }
    let cargo_path = root.join("Cargo.toml");
    let cargo = read(ws, &cargo_path)?;
    if cargo.contains(&format!("\"servers/{name}\"")) {
        return Err(format!(
            "Cargo.toml lists servers/{name} already; pick another name"
        ));
    }
    let cargo = add_member(&cargo, name).map_err(|e| format!("cannot add the crate: {e}"))?;

    // The description: the default, the one given, or (a path that does
    // not exist yet) a copy of the default.
    let default = root.join(description::DEFAULT_SYSTEM);
    let target = match system {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?
            .join(p),
        None => default.clone(),
    };
    let source = if target.exists() { &target } else { &default };
    let loaded = description::load(ws, source)?;
    for (kind, taken) in [
        (
            "domain",
            loaded
                .system
                .domains
                .iter()
                .map(|d| &d.name)
                .collect::<Vec<_>>(),
        ),
        (
            "channel",
            loaded.system.channels.iter().map(|c| &c.name).collect(),
        ),
    ] {
        let ours = if kind == "domain" {
            vec![name.to_string(), format!("{name}-client")]
        } else {
            vec![name.to_string()]
        };
        if let Some(n) = ours.iter().find(|n| taken.contains(n)) {
            return Err(format!(
                "{} has a {kind} named {n:?} already; pick another name",
                loaded.shown
            ));
        }
    }
    let partition = loaded
        .system
        .partitions
        .first()
        .map(|p| p.name.clone())
        .ok_or_else(|| format!("{} has no partition to put the server in", loaded.shown))?;
    let mut text = read(ws, source)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&description_entries(name, &partition));
    let shown_system = ws.show(&target);

    let mut lib = lib;
    if !lib.ends_with('\n') {
        lib.push('\n');
    }
    lib.push_str(&interfaces_module(name));
    let bin = crate_dir.join("src").join("bin");
    Ok(Plan {
        files: vec![
            (idl_file, idl(name, ordinal)),
            (lib_path, lib),
            (crate_dir.join("Cargo.toml"), manifest(name)),
            (crate_dir.join("build.rs"), BUILD_RS.to_string()),
            (crate_dir.join("src").join("lib.rs"), lib_rs(name)),
            (bin.join(format!("{name}-server.rs")), server_rs(name)),
            (bin.join(format!("{name}-client.rs")), client_rs(name)),
            (cargo_path, cargo),
            (target.clone(), text),
            (scenario_file, scenario(name, &shown_system)),
        ],
        system: target,
        interface: (iface, ordinal),
        partition,
    })
}

fn read(ws: &Workspace, path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", ws.show(path)))
}

/// `cargo xtask new-server NAME [--system FILE]`.
pub fn new_server(ws: &Workspace, name: &str, system: Option<&Path>) -> Result<()> {
    let plan = plan(ws, name, system)?;
    for (path, text) in &plan.files {
        crate::system::write(ws, path, text.as_bytes())?;
    }
    // The entries must check like any description (the interface exists now).
    let loaded = description::load(ws, &plan.system)?;
    let (iface, ordinal) = &plan.interface;
    println!(
        "new server {name}: interface {iface} (ordinal {ordinal:#06x}), domains {name} and \
         {name}-client in partition {} of {}",
        plan.partition, loaded.shown
    );
    for (path, _) in &plan.files {
        println!("  wrote {}", ws.show(path));
    }
    println!(
        "next: `cargo xtask test server-{name}` boots it and checks the answer; \
         docs/writing-a-driver.md goes on from here"
    );
    Ok(())
}

/// The name of the `cargo xtask test` check of `new-server` (what a
/// filter must match), and the server it scaffolds.
pub const CHECK: &str = "new-server";
const CHECK_SERVER: &str = "hello";

/// The source files of the workspace at `root`: what git tracks and what
/// it would (untracked, not ignored), so work not yet committed is
/// checked too. Without git, every file but `target/` and `.git/`.
fn source_files(root: &Path) -> Result<Vec<PathBuf>> {
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output();
    if let Ok(out) = listed
        && out.status.success()
    {
        return Ok(out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .filter(|p| root.join(p).is_file())
            .collect());
    }
    let mut files = Vec::new();
    walk(root, Path::new(""), &mut files)?;
    Ok(files)
}

/// Every file under `root/dir` but `target/` and `.git/`, relative to `root`.
fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let here = root.join(dir);
    let entries =
        std::fs::read_dir(&here).map_err(|e| format!("cannot list {}: {e}", here.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", here.display()))?;
        let rel = dir.join(entry.file_name());
        if rel == Path::new("target") || rel == Path::new(".git") {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", rel.display()))?;
        if kind.is_dir() {
            walk(root, &rel, files)?;
        } else if kind.is_file() {
            files.push(rel);
        }
    }
    Ok(())
}

/// Make `copy` hold exactly the source files of `root`: write those that
/// differ, remove the others (its `target/` stays, so the next build there
/// is incremental).
fn sync(root: &Path, copy: &Path) -> Result<()> {
    let files = source_files(root)?;
    let mut present = Vec::new();
    if copy.exists() {
        walk(copy, Path::new(""), &mut present)?;
    }
    for stale in present.iter().filter(|p| !files.contains(p)) {
        let path = copy.join(stale);
        std::fs::remove_file(&path)
            .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    }
    // And the directories left empty (a scaffolded crate's).
    prune_empty(copy, true);
    for file in &files {
        let data = std::fs::read(root.join(file))
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let to = copy.join(file);
        if std::fs::read(&to).ok().as_deref() == Some(&data[..]) {
            continue;
        }
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&to, &data).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    Ok(())
}

/// Remove the empty directories under `dir` (and `dir` itself if empty and
/// not `top`), but not `target/`. Returns whether `dir` is gone.
fn prune_empty(dir: &Path, top: bool) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut empty = true;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || (top && entry.file_name() == "target") || !prune_empty(&path, false) {
            empty = false;
        }
    }
    !top && empty && std::fs::remove_dir(dir).is_ok()
}

/// The `new-server` check of `cargo xtask test`: in a copy of the
/// workspace (`target/new-server-check/`, never the workspace itself),
/// scaffold a server, check that a second scaffold of the name and a bad
/// name are refused, then run `cargo xtask test server-<name>` there: the
/// server must build, boot in the default system and answer. Returns the
/// problems (none: it passed); everything the commands printed is in
/// `target/septum/logs/new-server.log`.
pub fn check_in_copy(ws: &Workspace) -> Result<Vec<String>> {
    let copy = ws.target_dir().join("new-server-check");
    sync(&ws.root, &copy)?;
    let mut log = String::new();
    let mut problems = Vec::new();
    // Each command's success and standard output (what it printed on
    // either stream goes to the log).
    let mut xtask = |args: &[&str]| -> Result<(bool, String)> {
        let mut cmd = ws.cargo();
        cmd.current_dir(&copy).arg("xtask").args(args);
        // The copy's own build tool and target directory, not ours.
        cmd.env_remove("CARGO_TARGET_DIR");
        let shown = format!("cargo xtask {}", args.join(" "));
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run `{shown}` in {}: {e}", ws.show(&copy)))?;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        log.push_str(&format!("$ {shown}\n{stderr}{stdout}\n"));
        // A refusal is on stderr: keep it with the output.
        Ok((out.status.success(), format!("{stderr}{stdout}")))
    };
    let (ok, text) = xtask(&["new-server", CHECK_SERVER])?;
    if !ok {
        problems.push(format!(
            "`new-server {CHECK_SERVER}` failed: {}",
            last_line(&text)
        ));
    }
    let (ok, text) = xtask(&["new-server", CHECK_SERVER])?;
    if ok || !text.contains("exists already") {
        problems.push(format!(
            "a second `new-server {CHECK_SERVER}` was not refused as existing: {}",
            last_line(&text)
        ));
    }
    let (ok, text) = xtask(&["new-server", "Bad_Name"])?;
    if ok || !text.contains("cannot name a server") {
        problems.push(format!(
            "`new-server Bad_Name` was not refused: {}",
            last_line(&text)
        ));
    }
    if problems.is_empty() {
        let scenario = format!("server-{CHECK_SERVER}");
        let (ok, text) = xtask(&["test", &scenario])?;
        if !ok || last_line(&text) != "1 passed, 0 failed, 0 skipped" {
            problems.push(format!(
                "`cargo xtask test {scenario}` in the copy did not pass: {}",
                last_line(&text)
            ));
        }
    }
    let path = ws.logs_dir().join(format!("{CHECK}.log"));
    crate::system::write(ws, &path, log.as_bytes())?;
    Ok(problems)
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["rtc", "uart-console", "a1", "x-2y"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Rtc",
            "1rtc",
            "-rtc",
            "rtc-",
            "a--b",
            "a_b",
            "a b",
            "a.b",
            "rtc/x",
            "abcdefghijklmnopqrstuvwxy",
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains("lowercase letters and digits"), "{bad}: {e}");
        }
        for reserved in ["type", "self", "core", "kind", "septum-x"] {
            let e = check_name(reserved).unwrap_err();
            assert!(e.contains("pick another"), "{reserved}: {e}");
        }
        assert_eq!(camel("uart-console"), "UartConsole");
        assert_eq!(camel("rtc"), "Rtc");
        assert_eq!(snake("uart-console"), "uart_console");
    }

    #[test]
    fn ordinals() {
        assert_eq!(free_ordinal(&[0x0101, 0x0f01]), Some(0x1001));
        assert_eq!(free_ordinal(&[0x1001, 0x1002, 0x1004]), Some(0x1003));
    }

    #[test]
    fn the_interface_parses_with_the_generator() {
        let dir = std::env::temp_dir().join(format!("septum-scaffold-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("uart_console.idl"), idl("uart-console", 0x1001)).unwrap();
        let known = septum_sysdesc::interfaces::load(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let known = known.expect("the scaffolded interface parses");
        assert_eq!(known.len(), 1);
        assert_eq!(known[0].name, "UartConsole");
        assert_eq!(known[0].ordinal, 0x1001);
    }

    #[test]
    fn members() {
        let cargo = "[workspace]\nmembers = [\n    \"build\",\n    \"servers/demo\",\n    \"tests/tasks\",\n]\nx = 1\n";
        assert_eq!(
            add_member(cargo, "rtc").unwrap(),
            "[workspace]\nmembers = [\n    \"build\",\n    \"servers/demo\",\n    \"servers/rtc\",\n    \"tests/tasks\",\n]\nx = 1\n"
        );
        let cargo = "members = [\n    \"build\",\n]\n";
        assert_eq!(
            add_member(cargo, "rtc").unwrap(),
            "members = [\n    \"build\",\n    \"servers/rtc\",\n]\n"
        );
        assert!(add_member("[workspace]\n", "rtc").is_err());
    }

    #[test]
    fn the_entries_check() {
        let base = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("systems/default.toml"),
        )
        .unwrap();
        let text = base + &description_entries("rtc", "A");
        let mut options = septum_sysdesc::check::Options::default();
        options
            .interfaces
            .push(septum_sysdesc::check::KnownInterface {
                name: "Rtc".into(),
                ordinal: 0x1001,
                version: 1,
            });
        options
            .interfaces
            .push(septum_sysdesc::check::KnownInterface {
                name: "Echo".into(),
                ordinal: 0x0101,
                version: 1,
            });
        options
            .interfaces
            .push(septum_sysdesc::check::KnownInterface {
                name: "Serial".into(),
                ordinal: 0x0501,
                version: 1,
            });
        options
            .interfaces
            .push(septum_sysdesc::check::KnownInterface {
                name: "Timer".into(),
                ordinal: 0x0301,
                version: 1,
            });
        let report = septum_sysdesc::check::check(&text, &options);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        let system = report.system.unwrap();
        let server = system.domains.iter().find(|d| d.name == "rtc").unwrap();
        assert_eq!(server.program, "rtc-server");
        // The slots the scaffolded programs use: 8 the endpoint, 9 the reply object.
        let slots: Vec<u32> = server.caps.iter().map(|c| c.slot).collect();
        assert!(
            slots.contains(&8) && slots.contains(&9),
            "{:?}",
            server.caps
        );
        assert_eq!(server.first_free_slot, 10);
        let client = system
            .domains
            .iter()
            .find(|d| d.name == "rtc-client")
            .unwrap();
        assert_eq!(client.first_free_slot, 9);
    }
}
