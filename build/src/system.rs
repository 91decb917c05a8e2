//! Building the machine crates, checking the kernel, packing boot images.

use crate::description::Loaded;
use crate::image;
use crate::kernel_check::{self, KernelInfo};
use crate::scenario::Scenario;
use crate::tools::{self, MACHINE_TARGET, Result, Workspace};
use std::path::{Path, PathBuf};

/// The machine crates, built together.
/// Crates built for the machine (and that `lint` checks for it).
pub const MACHINE_PACKAGES: [&str; 8] = [
    "septum-kernel",
    "septum-root-task",
    "septum-test-tasks",
    "septum-demo",
    "septum-serial",
    "septum-timer",
    "septum-linux-probe",
    "septum-l4linux-shim",
];

/// Every crate `build` builds for the machine: [`MACHINE_PACKAGES`] and
/// every workspace member under `servers/` (a server `cargo xtask
/// new-server` made is built without more ado).
pub fn machine_packages(ws: &Workspace) -> Result<Vec<String>> {
    let mut packages: Vec<String> = MACHINE_PACKAGES.iter().map(|p| p.to_string()).collect();
    let manifest = ws.root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", ws.show(&manifest)))?;
    for member in server_members(&text) {
        let path = ws.root.join(&member).join("Cargo.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", ws.show(&path)))?;
        let name = package_name(&text)
            .ok_or_else(|| format!("{} has no [package] name", ws.show(&path)))?;
        if !packages.contains(&name) {
            packages.push(name);
        }
    }
    Ok(packages)
}

/// The workspace members under `servers/` in a root `Cargo.toml`.
fn server_members(cargo_toml: &str) -> Vec<String> {
    let Ok(value) = cargo_toml.parse::<toml::Table>() else {
        return Vec::new();
    };
    value
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m.as_str())
                .filter(|m| m.starts_with("servers/"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A crate manifest's package name.
fn package_name(cargo_toml: &str) -> Option<String> {
    let value = cargo_toml.parse::<toml::Table>().ok()?;
    Some(value.get("package")?.get("name")?.as_str()?.to_string())
}

/// The default system's root task binary.
pub const DEFAULT_ROOT: &str = "root-task";

/// A built and checked kernel.
#[derive(Clone, Debug)]
pub struct Built {
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// What the checks found.
    pub info: KernelInfo,
}

/// `cargo build --release` of the machine crates, then the kernel ELF checks.
pub fn build(ws: &Workspace) -> Result<Built> {
    build_with_env(ws, &[])
}

/// [`build`] with a `--guest-files` directory merged into the guest's
/// filesystem at `/`.
pub fn build_with_guest_files(ws: &Workspace, guest_files: Option<&Path>) -> Result<Built> {
    build_inner(ws, &[], guest_files)
}

/// [`build`] with `env` set for the build. The benchmark task's profile
/// switch (`profile::ENV`) is set only through `env`: one left in the
/// shell must not turn `cargo xtask bench` into a profile run.
pub fn build_with_env(ws: &Workspace, env: &[(&str, &str)]) -> Result<Built> {
    build_inner(ws, env, None)
}

fn build_inner(ws: &Workspace, env: &[(&str, &str)], guest_files: Option<&Path>) -> Result<Built> {
    tools::ensure_toolchain(ws, false)?;
    // The guest's root filesystem first: the shim's build embeds it.
    let rootfs = crate::guest::rootfs(ws, guest_files)?;
    let mut cargo = ws.cargo();
    cargo.env("SEPTUM_GUEST_CPIO", &rootfs);
    cargo.env_remove(crate::profile::ENV);
    cargo.envs(env.iter().copied());
    cargo.args(["build", "--release", "--target", MACHINE_TARGET]);
    for p in machine_packages(ws)? {
        cargo.args(["-p", &p]);
    }
    cargo.arg("--target-dir").arg(ws.target_dir());
    tools::run(&mut cargo)?;

    let kernel = ws.kernel();
    let data = read(ws, &kernel, "the kernel")?;
    let info = kernel_check::check_kernel(&data).map_err(|problems| {
        let mut msg = format!(
            "the kernel ELF {} is not bootable as built:",
            ws.show(&kernel)
        );
        for p in problems {
            msg.push_str("\n  - ");
            msg.push_str(&p);
        }
        msg.push_str("\nfix the kernel's linker script or link arguments (kernel/build.rs)");
        msg
    })?;
    Ok(Built { kernel, info })
}

/// The guest kernel rebuilt with `dir`'s files in its filesystem, for
/// one scenario's `guest_files`; dropping it puts the standard shim
/// binary back, so the scenarios after it boot the standard one (the
/// next build rebuilds the shim from the standard archive).
pub struct GuestFilesShim {
    bin: PathBuf,
    saved: Vec<u8>,
}

impl Drop for GuestFilesShim {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(&self.bin, &self.saved) {
            eprintln!(
                "septum-build: cannot put the standard shim back at {}: {e}",
                self.bin.display()
            );
        }
    }
}

/// Rebuild the shim with `dir` merged into its filesystem at `/` (see
/// [`GuestFilesShim`]).
pub fn shim_with_guest_files(ws: &Workspace, dir: &Path) -> Result<GuestFilesShim> {
    let bin = ws.machine_bin_dir().join("l4linux-shim");
    let saved = read(ws, &bin, "the guest kernel")?;
    let rootfs = crate::guest::rootfs(ws, Some(dir))?;
    let mut cargo = ws.cargo();
    cargo.env("SEPTUM_GUEST_CPIO", &rootfs);
    cargo.env_remove(crate::profile::ENV);
    cargo.args([
        "build",
        "--release",
        "--target",
        MACHINE_TARGET,
        "-p",
        "septum-l4linux-shim",
    ]);
    cargo.arg("--target-dir").arg(ws.target_dir());
    let guard = GuestFilesShim { bin, saved };
    tools::run(&mut cargo)?;
    Ok(guard)
}

fn read(ws: &Workspace, path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot read {what} at {}: {e}; did the build produce it?",
            ws.show(path)
        )
    })
}

/// Read a machine binary by name for packing; `user` says who asked for it.
fn read_binary(ws: &Workspace, name: &str, user: &str) -> Result<Vec<u8>> {
    let path = ws.machine_bin_dir().join(name);
    let data = std::fs::read(&path).map_err(|e| {
        format!(
            "{user} names binary '{name}', but {} cannot be read ({e}); is '{name}' a binary \
             of root-task/, servers/ or tests/tasks/ (a [[bin]] or src/bin/{name}.rs)?",
            ws.show(&path)
        )
    })?;
    if !kernel_check::looks_like_elf(&data) {
        return Err(format!("{} is not an ELF file", ws.show(&path)));
    }
    Ok(data)
}

/// Write `data` to `path`, creating its directory.
pub fn write(ws: &Workspace, path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", ws.show(dir)))?;
    }
    std::fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", ws.show(path)))
}

/// A packed description's image and what went into it.
#[derive(Debug)]
pub struct Packed {
    /// `target/septum/<name>.img`.
    pub image: PathBuf,
    /// `target/septum/<name>.json`: the checked description, as `describe
    /// --json` prints it.
    pub json: PathBuf,
    /// The compiled description's size.
    pub description_bytes: usize,
    /// Programs packed as task entries.
    pub programs: Vec<String>,
    /// Programs the description names that are not built.
    pub missing: Vec<String>,
}

/// Pack the system `loaded` describes into `target/septum/<name>.img`: the
/// root task, every program of its domains that is built, and the compiled
/// description. A program that is not built is left out and listed in
/// [`Packed::missing`] (the root task then refuses to build the system and
/// says which program is missing).
pub fn pack_system(ws: &Workspace, loaded: &Loaded) -> Result<Packed> {
    let user = format!("system {}", loaded.shown);
    let root = read_binary(ws, DEFAULT_ROOT, &user)?;
    let mut programs: Vec<String> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut tasks: Vec<(String, Vec<u8>)> = Vec::new();
    for name in loaded.system.programs() {
        if name == DEFAULT_ROOT {
            continue;
        }
        if ws.machine_bin_dir().join(name).is_file() {
            tasks.push((name.to_string(), read_binary(ws, name, &user)?));
            programs.push(name.to_string());
        } else {
            missing.push(name.to_string());
        }
    }
    let compiled = loaded
        .system
        .encode()
        .map_err(|e| format!("cannot encode {}: {e}", loaded.shown))?;
    let refs: Vec<(&str, &[u8])> = tasks
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let img = image::pack((DEFAULT_ROOT, &root), &refs, Some(&compiled))?;
    let name = loaded.name();
    let image = ws.out_dir().join(format!("{name}.img"));
    write(ws, &image, &img)?;
    let json = ws.out_dir().join(format!("{name}.json"));
    write(ws, &json, loaded.system.to_json().as_bytes())?;
    Ok(Packed {
        image,
        json,
        description_bytes: compiled.len(),
        programs,
        missing,
    })
}

/// Pack binary `root` as the only entry, the root task, into
/// `target/septum/<name>.img`; `user` says who asked for it in errors.
pub fn pack_alone(ws: &Workspace, root: &str, name: &str, user: &str) -> Result<PathBuf> {
    let data = read_binary(ws, root, user)?;
    let img = image::pack((root, &data), &[], None)?;
    let path = ws.out_dir().join(format!("{name}.img"));
    write(ws, &path, &img)?;
    Ok(path)
}

/// Pack (and corrupt, if asked) a scenario's image into `target/septum/<name>.img`.
/// A scenario that names a system description gets its compiled form and
/// every program it names (each must be built).
pub fn pack_scenario(ws: &Workspace, name: &str, s: &Scenario) -> Result<PathBuf> {
    let user = format!("scenario {name}");
    let root = read_binary(ws, &s.root, &user)?;
    let mut names: Vec<String> = s.tasks.clone();
    let mut compiled = None;
    if let Some(file) = &s.system {
        let loaded = crate::description::load(ws, &ws.root.join(file))?;
        for program in loaded.system.programs() {
            if !names.iter().any(|n| n == program) && program != s.root {
                names.push(program.to_string());
            }
        }
        compiled = Some(
            loaded
                .system
                .encode()
                .map_err(|e| format!("cannot encode {}: {e}", loaded.shown))?,
        );
    }
    let tasks = names
        .iter()
        .map(|t| Ok((t.as_str(), read_binary(ws, t, &user)?)))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<(&str, &[u8])> = tasks.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let mut img = image::pack((&s.root, &root), &refs, compiled.as_deref())?;
    if let Some(how) = s.corrupt {
        image::corrupt(&mut img, how)?;
    }
    let path = ws.out_dir().join(format!("{name}.img"));
    write(ws, &path, &img)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_found_among_the_members() {
        let cargo = "[workspace]\nmembers = [\n    \"build\",\n    \"servers/demo\",\n    \"servers/rtc\",\n]\n";
        assert_eq!(server_members(cargo), ["servers/demo", "servers/rtc"]);
        assert_eq!(
            package_name("[package]\nname = \"septum-rtc\"\n").as_deref(),
            Some("septum-rtc")
        );
        let here =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
                .unwrap();
        assert!(server_members(&here).contains(&"servers/demo".to_string()));
    }
}
