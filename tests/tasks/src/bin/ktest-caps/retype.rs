//! Retyping untyped memory into every object type, and its error paths.

use septum_test_tasks::ktest::{CNODE, Ctx, DEPTH, SELF_VSPACE, Test, TestResult, cap, poke, ty};
use septum_test_tasks::{check, check_eq, skip};
use septum_user::abi::Error;

pub const TESTS: &[Test] = &[
    Test {
        name: "retype_every_object_type",
        run: every_type,
    },
    Test {
        name: "retype_many_objects_at_once",
        run: many_at_once,
    },
    Test {
        name: "retype_child_untyped_then_objects",
        run: child_untyped,
    },
    Test {
        name: "retype_error_unknown_type",
        run: unknown_type,
    },
    Test {
        name: "retype_error_bad_size_bits",
        run: bad_bits,
    },
    Test {
        name: "retype_error_not_enough_memory",
        run: no_room,
    },
    Test {
        name: "retype_error_slot_occupied",
        run: occupied,
    },
    Test {
        name: "retype_error_destination_range",
        run: dest_range,
    },
    Test {
        name: "retype_error_not_an_untyped",
        run: not_untyped,
    },
    Test {
        name: "retype_error_zero_count",
        run: zero_count,
    },
    Test {
        name: "retype_counts_bounded_per_kind",
        run: counts_bounded,
    },
    Test {
        name: "retype_of_34_mib_at_once_needs_no_clearing",
        run: large_retype,
    },
    Test {
        name: "retype_reuses_memory_only_after_clearing_it",
        run: reuse_is_clean,
    },
    Test {
        name: "retype_reuses_memory_after_revoke",
        run: reuse_after_revoke,
    },
];

fn every_type(c: &mut Ctx) -> TestResult {
    let cases = [
        (ty::UNTYPED, 12, cap::UNTYPED, 12),
        (ty::CNODE, 4, cap::CNODE, 4),
        (ty::TCB, 0, cap::TCB, 0),
        (ty::ENDPOINT, 0, cap::ENDPOINT, 0),
        (ty::NOTIFICATION, 0, cap::NOTIFICATION, 0),
        (ty::REPLY, 0, cap::REPLY, 0),
        (ty::PAGE_TABLE, 1, cap::PAGE_TABLE, 1),
        (ty::PAGE_TABLE, 4, cap::PAGE_TABLE, 4),
        (ty::FRAME, 0, cap::FRAME, 0),
        (ty::FRAME_2M, 0, cap::FRAME, 1),
    ];
    for (t, bits, want_type, want_extra) in cases {
        let s = c.make(t, bits)?;
        let id = c.identify(s)?;
        check!(
            id.cap_type == want_type,
            "type {t}: identify says {}",
            id.cap_type
        );
        check!(
            id.extra == want_extra,
            "type {t}: extra {} want {want_extra}",
            id.extra
        );
    }
    Ok(())
}

fn many_at_once(c: &mut Ctx) -> TestResult {
    let first = c.slots(32);
    c.ipc.retype(c.ut, ty::ENDPOINT, 0, CNODE, first, 32)?;
    for s in first..first + 32 {
        check_eq!(c.identify(s)?.cap_type, cap::ENDPOINT);
    }
    Ok(())
}

fn child_untyped(c: &mut Ctx) -> TestResult {
    let child = c.make(ty::UNTYPED, 16)?;
    let s = c.slot();
    c.ipc.retype(child, ty::NOTIFICATION, 0, CNODE, s, 1)?;
    check_eq!(c.identify(s)?.cap_type, cap::NOTIFICATION);
    // 64 KiB hold at most 16 frames.
    let first = c.slots(17);
    check_eq!(
        c.ipc.retype(child, ty::FRAME, 0, CNODE, first, 16),
        Err(Error::NotEnoughMemory)
    );
    Ok(())
}

fn unknown_type(c: &mut Ctx) -> TestResult {
    let s = c.slot();
    for t in [0, 10, 99, u64::MAX] {
        check_eq!(c.ipc.retype(c.ut, t, 0, CNODE, s, 1), Err(Error::Range));
    }
    check_eq!(c.identify(s)?.cap_type, cap::NULL);
    Ok(())
}

fn bad_bits(c: &mut Ctx) -> TestResult {
    let s = c.slot();
    check_eq!(
        c.ipc.retype(c.ut, ty::CNODE, 0, CNODE, s, 1),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.retype(c.ut, ty::CNODE, 64, CNODE, s, 1),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.retype(c.ut, ty::UNTYPED, 3, CNODE, s, 1),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.retype(c.ut, ty::PAGE_TABLE, 0, CNODE, s, 1),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.retype(c.ut, ty::PAGE_TABLE, 5, CNODE, s, 1),
        Err(Error::Range)
    );
    Ok(())
}

fn no_room(c: &mut Ctx) -> TestResult {
    // The case's untyped is 4 MiB: three 2 MiB frames cannot fit.
    let first = c.slots(3);
    check_eq!(
        c.ipc.retype(c.ut, ty::FRAME_2M, 0, CNODE, first, 3),
        Err(Error::NotEnoughMemory)
    );
    check_eq!(c.identify(first)?.cap_type, cap::NULL);
    c.ipc.retype(c.ut, ty::FRAME_2M, 0, CNODE, first, 2)?;
    Ok(())
}

fn occupied(c: &mut Ctx) -> TestResult {
    let s = c.endpoint()?;
    check_eq!(
        c.ipc.retype(c.ut, ty::NOTIFICATION, 0, CNODE, s, 1),
        Err(Error::SlotOccupied)
    );
    check_eq!(c.identify(s)?.cap_type, cap::ENDPOINT);
    Ok(())
}

fn dest_range(c: &mut Ctx) -> TestResult {
    // The root CNode has 4096 slots.
    check_eq!(
        c.ipc.retype(c.ut, ty::ENDPOINT, 0, CNODE, 4096, 1),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.retype(c.ut, ty::ENDPOINT, 0, CNODE, 4095, 2),
        Err(Error::Range)
    );
    check_eq!(
        c.ipc.retype(c.ut, ty::ENDPOINT, 0, CNODE, u64::MAX, 2),
        Err(Error::Range)
    );
    // A destination that is no CNode.
    let ep = c.endpoint()?;
    let s = c.slot();
    check_eq!(
        c.ipc.retype(c.ut, ty::ENDPOINT, 0, ep, s, 1),
        Err(Error::WrongType)
    );
    // An empty destination pointer.
    check_eq!(
        c.ipc.retype(c.ut, ty::ENDPOINT, 0, 4000, s, 1),
        Err(Error::InvalidCapability)
    );
    let _ = DEPTH;
    Ok(())
}

fn not_untyped(c: &mut Ctx) -> TestResult {
    // A Call on an endpoint is IPC, not an invocation: use other kinds.
    let n = c.notification()?;
    let s = c.slot();
    check_eq!(
        c.ipc.retype(n, ty::ENDPOINT, 0, CNODE, s, 1),
        Err(Error::WrongType)
    );
    let tcb = c.make(ty::TCB, 0)?;
    check_eq!(
        c.ipc.retype(tcb, ty::ENDPOINT, 0, CNODE, s, 1),
        Err(Error::IllegalOperation)
    );
    Ok(())
}

fn zero_count(c: &mut Ctx) -> TestResult {
    let s = c.slot();
    check_eq!(
        c.ipc.retype(c.ut, ty::ENDPOINT, 0, CNODE, s, 0),
        Err(Error::Range)
    );
    Ok(())
}

/// At most 256 objects per retype, and 32 threads (a thread's
/// initialisation runs with interrupts off; the kernel keeps each call
/// short): 33 threads or 257 endpoints are refused with nothing made, 32
/// threads and 256 endpoints are made.
fn counts_bounded(c: &mut Ctx) -> TestResult {
    let first = c.slots(257);
    check_eq!(
        c.ipc.retype(c.ut, ty::TCB, 0, CNODE, first, 33),
        Err(Error::Range)
    );
    check_eq!(c.identify(first)?.cap_type, 0);
    check_eq!(
        c.ipc.retype(c.ut, ty::ENDPOINT, 0, CNODE, first, 257),
        Err(Error::Range)
    );
    check_eq!(c.identify(first)?.cap_type, 0);
    c.ipc.retype(c.ut, ty::TCB, 0, CNODE, first, 32)?;
    check_eq!(c.identify(first + 31)?.cap_type, cap::TCB);
    for s in first..first + 32 {
        c.ipc.cnode_delete(CNODE, (s, DEPTH))?;
    }
    c.ipc.retype(c.ut, ty::ENDPOINT, 0, CNODE, first, 256)?;
    check_eq!(c.identify(first + 255)?.cap_type, cap::ENDPOINT);
    Ok(())
}

fn reuse_after_revoke(c: &mut Ctx) -> TestResult {
    let child = c.make(ty::UNTYPED, 21)?;
    let s = c.slot();
    // Fill it, revoke, and fill it again: the memory came back.
    c.ipc.retype(child, ty::FRAME_2M, 0, CNODE, s, 1)?;
    let t = c.slot();
    check_eq!(
        c.ipc.retype(child, ty::FRAME, 0, CNODE, t, 1),
        Err(Error::NotEnoughMemory)
    );
    c.ipc.cnode_revoke(CNODE, (child, DEPTH))?;
    check_eq!(c.identify(s)?.cap_type, cap::NULL);
    c.ipc.retype(child, ty::FRAME_2M, 0, CNODE, s, 1)?;
    check_eq!(c.identify(s)?.cap_type, cap::FRAME);
    Ok(())
}

fn large_retype(c: &mut Ctx) -> TestResult {
    // Memory above a watermark is already clear, so one retype may make
    // objects of any total size: 17 frames of 2 MiB from a boot untyped of
    // 64 MiB or more (until issue 7 this was refused, to bound the clearing).
    let first = c.slots(17);
    // A RAM untyped: device memory holds frames too, but is never cleared.
    let ram_64m =
        |i: &usize| c.info.untyped[*i].size_bits >= 26 && c.info.untyped[*i].is_device == 0;
    let Some(i) = (0..c.info.untypeds().len()).find(ram_64m) else {
        skip!("no boot untyped of 64 MiB or more on this machine to try with");
    };
    let ut = c.info.untyped_first + i as u64;
    c.ipc.retype(ut, ty::FRAME_2M, 0, CNODE, first, 17)?;
    check_eq!(c.identify(first)?.cap_type, cap::FRAME);
    check_eq!(c.identify(first + 16)?.cap_type, cap::FRAME);
    for s in first..first + 17 {
        c.ipc.cnode_delete(CNODE, (s, DEPTH))?;
    }
    Ok(())
}

/// Fill frames with a pattern, revoke them, make frames again in the same
/// memory: they read as zero. The revoke (or the retype after it) clears
/// what the old objects held before anything is made there again.
fn reuse_is_clean(c: &mut Ctx) -> TestResult {
    const N: u64 = 8;
    let child = c.make(ty::UNTYPED, 16)?;
    let frames = c.slots(N);
    let mut vas = [0u64; N as usize];
    for va in vas.iter_mut() {
        *va = c.page_addr();
    }
    c.ipc.retype(child, ty::FRAME, 0, CNODE, frames, N)?;
    let mut addrs = [0u64; N as usize];
    for i in 0..N as usize {
        let f = frames + i as u64;
        addrs[i] = c.ipc.frame_address(f)?;
        c.ipc.frame_map(f, SELF_VSPACE, vas[i], 1)?;
        for off in (0..4096).step_by(512) {
            poke(vas[i] + off, 0xab);
        }
    }
    c.ipc.cnode_revoke(CNODE, (child, DEPTH))?;
    check_eq!(c.identify(frames)?.cap_type, cap::NULL);
    c.ipc.retype(child, ty::FRAME, 0, CNODE, frames, N)?;
    for i in 0..N as usize {
        let f = frames + i as u64;
        check_eq!(c.ipc.frame_address(f)?, addrs[i]);
        c.ipc.frame_map(f, SELF_VSPACE, vas[i], 1)?;
        for off in (0..4096).step_by(512) {
            // SAFETY: the page was just mapped read-write at `vas[i]`.
            let v = unsafe { ((vas[i] + off) as *const u8).read_volatile() };
            check!(v == 0, "frame {i} byte {off} reads {v:#x} after reuse");
        }
    }
    Ok(())
}
