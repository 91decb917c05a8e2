//! The workspace's paths, and the outside tools the build needs.
//!
//! A fresh Debian machine with only rustup has neither the pinned machine
//! target (rustup does not add a pinned target to a toolchain that is already
//! installed) nor QEMU. These functions install what is missing where that is
//! possible without asking (the target always; QEMU and gdb when running as root) and
//! otherwise say the one command to run.

use crate::qemu::QEMU;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The machine target every crate that runs on the machine is built for.
pub const MACHINE_TARGET: &str = "x86_64-unknown-none";

/// What went wrong, already phrased for the user.
pub type Result<T> = std::result::Result<T, String>;

/// Where things live in the workspace.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The workspace root (where `Cargo.toml` and `rust-toolchain.toml` are).
    pub root: PathBuf,
}

impl Workspace {
    /// The workspace this tool was built from.
    pub fn locate() -> Self {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf();
        Workspace { root }
    }

    /// Cargo's target directory for every build this tool starts.
    pub fn target_dir(&self) -> PathBuf {
        self.root.join("target")
    }

    /// Where the machine binaries land.
    pub fn machine_bin_dir(&self) -> PathBuf {
        self.target_dir().join(MACHINE_TARGET).join("release")
    }

    /// The kernel ELF.
    pub fn kernel(&self) -> PathBuf {
        self.machine_bin_dir().join("septum-kernel")
    }

    /// Packed images and logs.
    pub fn out_dir(&self) -> PathBuf {
        self.target_dir().join("septum")
    }

    /// Console logs of scenario runs.
    pub fn logs_dir(&self) -> PathBuf {
        self.out_dir().join("logs")
    }

    /// Benchmark results.
    pub fn bench_dir(&self) -> PathBuf {
        self.target_dir().join("bench")
    }

    /// Scenario files.
    pub fn scenarios_dir(&self) -> PathBuf {
        self.root.join("tests").join("scenarios")
    }

    /// `path` relative to the root when it is inside, for shorter messages.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// A cargo command run in the workspace root with the same cargo that runs
    /// this tool.
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.root);
        cmd
    }

    /// A rustup command that reads `rust-toolchain.toml` itself: the variables
    /// the rustup proxy set for this process would otherwise override the file.
    fn rustup(&self) -> Command {
        let mut cmd = Command::new("rustup");
        cmd.current_dir(&self.root)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTUP_TOOLCHAIN_SOURCE");
        cmd
    }
}

/// The command line of `cmd` as one printable string.
pub fn show_command(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `cmd` with inherited output and fail if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status_of(cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({status}); its messages are above",
            show_command(cmd)
        ))
    }
}

/// Run `cmd` with inherited output and return its status.
pub fn status_of(cmd: &mut Command) -> Result<ExitStatus> {
    cmd.status()
        .map_err(|e| format!("cannot run `{}`: {e}", show_command(cmd)))
}

/// Make sure the pinned toolchain has the machine target (and, if
/// `components`, rustfmt and clippy), running `rustup toolchain install` in the
/// workspace root once if not.
pub fn ensure_toolchain(ws: &Workspace, components: bool) -> Result<()> {
    if toolchain_ready(ws, components)? {
        return Ok(());
    }
    println!(
        "septum-build: installing the pinned toolchain from rust-toolchain.toml (rustup toolchain install)"
    );
    run(ws.rustup().arg("toolchain").arg("install"))?;
    if toolchain_ready(ws, components)? {
        return Ok(());
    }
    Err(format!(
        "`rustup toolchain install` did not add the {MACHINE_TARGET} target{}; run \
         `rustup target add {MACHINE_TARGET}`{} in {}",
        if components {
            " or the rustfmt/clippy components"
        } else {
            ""
        },
        if components {
            " and `rustup component add rustfmt clippy`"
        } else {
            ""
        },
        ws.root.display()
    ))
}

fn toolchain_ready(ws: &Workspace, components: bool) -> Result<bool> {
    let listed = |args: &[&str]| -> Result<String> {
        let out = ws.rustup().args(args).output().map_err(|e| {
            format!("cannot run rustup ({e}); Septum needs rustup to install its pinned toolchain: see https://rustup.rs")
        })?;
        if !out.status.success() {
            return Err(format!(
                "`rustup {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let targets = listed(&["target", "list", "--installed"])?;
    if !targets.lines().any(|l| l.trim() == MACHINE_TARGET) {
        return Ok(false);
    }
    if components {
        let installed = listed(&["component", "list", "--installed"])?;
        for want in ["rustfmt", "clippy"] {
            if !installed.lines().any(|l| l.trim().starts_with(want)) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether an executable named `name` is on `PATH`.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// The message printed when QEMU is missing and cannot be installed here.
pub const QEMU_MISSING: &str =
    "QEMU is missing; install it with: sudo apt-get install -y qemu-system-x86";

/// Make sure QEMU is installed: through apt-get when running as root,
/// otherwise print the command to run and exit with status 1.
pub fn ensure_qemu() -> Result<()> {
    ensure_installed(QEMU, "qemu-system-x86", QEMU_MISSING)
}

/// The message printed when gdb is missing and cannot be installed here.
pub const GDB_MISSING: &str = "gdb is missing; install it with: sudo apt-get install -y gdb";

/// Make sure gdb is installed, as [`ensure_qemu`] does QEMU.
pub fn ensure_gdb() -> Result<()> {
    ensure_installed(crate::gdb::GDB, "gdb", GDB_MISSING)
}

/// Make sure `binary` is on PATH: install Debian's `package` with apt-get
/// when running as root, otherwise print `missing` and exit with status 1.
fn ensure_installed(binary: &str, package: &str, missing: &str) -> Result<()> {
    if on_path(binary) {
        return Ok(());
    }
    if !is_root() {
        eprintln!("{missing}");
        std::process::exit(1);
    }
    println!("septum-build: {binary} is missing; installing {package} with apt-get");
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt(&["update"]))?;
    run(&mut apt(&["install", "-y", package]))?;
    if on_path(binary) {
        Ok(())
    } else {
        Err(format!(
            "apt-get installed {package} but {binary} is still not on PATH"
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}
