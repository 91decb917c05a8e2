//! What the system tells a process about itself: uname, the clocks
//! (from the TSC, whose frequency the root task passes the shim) and
//! random bytes.

use super::Args;
use crate::Shim;
use crate::linux::errno::*;
use crate::linux::*;
use crate::process::Process;

/// 2026-01-01T00:00:00Z: what CLOCK_REALTIME reads at boot, until the
/// guest has a real-time clock to read.
pub const EPOCH_AT_BOOT: u64 = 1_767_225_600;

fn field(s: &str) -> [u8; 65] {
    let mut f = [0u8; 65];
    let n = s.len().min(64);
    f[..n].copy_from_slice(&s.as_bytes()[..n]);
    f
}

pub fn uname(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let u = Utsname {
        fields: [
            field("Linux"),
            field("septum"),
            field("6.1.0-septum"),
            field("#1 Septum l4linux-shim"),
            field("x86_64"),
            field("(none)"),
        ],
    };
    s.put(p, a[0], &u)?;
    Ok(0)
}

pub fn clock_gettime(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let ns = s.nanos();
    let ts = match a[0] {
        // REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI
        0 | 5 | 8 | 11 => Timespec {
            tv_sec: (EPOCH_AT_BOOT + ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        },
        // MONOTONIC, the CPU-time clocks, MONOTONIC_RAW/COARSE, BOOTTIME(_ALARM)
        1 | 2 | 3 | 4 | 6 | 7 | 9 => Timespec {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        },
        _ => return Err(EINVAL),
    };
    s.put(p, a[1], &ts)?;
    Ok(0)
}

pub fn gettimeofday(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let ns = s.nanos();
    if a[0] != 0 {
        let tv = Timeval {
            tv_sec: (EPOCH_AT_BOOT + ns / 1_000_000_000) as i64,
            tv_usec: (ns % 1_000_000_000 / 1000) as i64,
        };
        s.put(p, a[0], &tv)?;
    }
    if a[1] != 0 {
        s.put(p, a[1], &[0u32; 2])?;
    }
    Ok(0)
}

pub fn time(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let t = EPOCH_AT_BOOT + s.nanos() / 1_000_000_000;
    if a[0] != 0 {
        s.put(p, a[0], &t)?;
    }
    Ok(t)
}

pub fn getrandom(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    // GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE
    if a[2] & !7 != 0 {
        return Err(EINVAL);
    }
    // Both GRND_INSECURE and GRND_RANDOM make no sense together.
    if a[2] & 6 == 6 {
        return Err(EINVAL);
    }
    // Linux caps the count at INT_MAX, checks that the whole range is
    // user memory, then copies up to the first fault.
    let len = a[1].min(i32::MAX as u64);
    if !Process::range_ok(a[0], len) {
        return Err(EFAULT);
    }
    let mut done = 0;
    let mut chunk = [0u8; 256];
    while done < len {
        let n = (len - done).min(256) as usize;
        s.random(&mut chunk[..n]);
        if let Err(short) = s.copy_out_part(p, a[0] + done, &chunk[..n]) {
            return short.count(done);
        }
        done += n as u64;
    }
    Ok(len)
}

/// sysinfo: the uptime, the process count and the memory figures of
/// `/proc/meminfo` (process memory and the file pool), in bytes.
pub fn sysinfo(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let m = s.memory();
    let info = Sysinfo {
        uptime: (s.nanos() / 1_000_000_000) as i64,
        totalram: m.total,
        freeram: m.free,
        sharedram: m.files,
        procs: (s.procs.iter().flatten().count() + 1) as u16,
        mem_unit: 1,
        ..Sysinfo::default()
    };
    s.put(p, a[0], &info)?;
    Ok(0)
}

/// getgroups: every process is root, in group 0 only.
pub fn getgroups(s: &mut Shim, p: &mut Process, a: &Args) -> SysResult {
    let size = a[0] as i32;
    if size < 0 {
        return Err(EINVAL);
    }
    if size == 0 {
        return Ok(1);
    }
    s.put(p, a[1], &0u32)?;
    Ok(1)
}
