//! Notifications: signal, wait, poll, badges OR-ed together, rights, and
//! a notification bound to a thread that waits on an endpoint.

use crate::common::{
    PRIO, Settle, get, get_result, mint, pack, parked, put, put_result, reset, unpack,
};
use septum_test_tasks::ktest::{Ctx, Test, TestResult, rights};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::Error;
use septum_user::abi::ipc::NOTIFICATION_LABEL;
use septum_user::ipc::Message;
use septum_user::syscall::{self, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "ntfn_signal_runs_a_higher_waiter_at_once",
        run: signal_preempts,
    },
    Test {
        name: "ntfn_signal_then_wait",
        run: signal_then_wait,
    },
    Test {
        name: "ntfn_wait_then_signal_wakes",
        run: wait_then_signal,
    },
    Test {
        name: "ntfn_badges_or_together",
        run: badges_or,
    },
    Test {
        name: "ntfn_poll_empty_returns_zero",
        run: poll_empty,
    },
    Test {
        name: "ntfn_rights",
        run: ntfn_rights,
    },
    Test {
        name: "ntfn_bound_ends_endpoint_wait",
        run: bound,
    },
    Test {
        name: "ntfn_bind_twice_refused_and_unbind",
        run: bind_twice,
    },
    Test {
        name: "ntfn_unbound_no_longer_delivered",
        run: unbind_stops,
    },
];

/// `[n, cell]`: signal `n`; cell := 1 or the error.
pub extern "C" fn signaller(arg: u64, _buffer: u64) -> ! {
    let [n, cell, _, _] = unpack(arg);
    put_result(cell as usize, syscall::signal(n).map(|()| 1));
    thread_exit()
}

/// `[n, cell]`: wait on `n`; cell := the word or the error.
extern "C" fn waiter(arg: u64, _buffer: u64) -> ! {
    let [n, cell, _, _] = unpack(arg);
    put_result(cell as usize, syscall::wait(n));
    thread_exit()
}

fn signal_then_wait(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    syscall::signal(n)?;
    // An unbadged capability signals 1.
    check_eq!(syscall::wait(n)?, 1);
    // Taken: nothing pending any more.
    check_eq!(syscall::poll(n)?, 0);
    let b = mint(c, n, rights::ALL, 0x40)?;
    syscall::signal(b)?;
    syscall::signal(b)?;
    check_eq!(syscall::wait(n)?, 0x40);
    Ok(())
}

fn wait_then_signal(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let n = c.notification()?;
    let b = mint(c, n, rights::WRITE, 0x100)?;
    // We wait first; the signaller wakes us.
    c.spawn("signaller", signaller, pack(&[b, 0]), PRIO)?;
    check_eq!(syscall::wait(n)?, 0x100);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(1)));
    // A helper waits first; our signal wakes it.
    c.spawn("waiter", waiter, pack(&[n, 1]), PRIO)?;
    s.run()?;
    check_eq!(get_result(1), None);
    syscall::signal(b)?;
    s.run()?;
    check_eq!(get_result(1), Some(Ok(0x100)));
    // The word went to the waiter, none is left.
    check_eq!(syscall::poll(n)?, 0);
    Ok(())
}

fn badges_or(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    let b1 = mint(c, n, rights::WRITE, 0x1)?;
    let b4 = mint(c, n, rights::WRITE, 0x4)?;
    let b100 = mint(c, n, rights::WRITE, 0x100)?;
    syscall::signal(b1)?;
    syscall::signal(b4)?;
    syscall::signal(b1)?;
    check_eq!(syscall::wait(n)?, 0x5);
    syscall::signal(b100)?;
    syscall::signal(b4)?;
    check_eq!(syscall::poll(n)?, 0x104);
    Ok(())
}

fn poll_empty(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    // Returns at once (a blocking poll would hang this case) with 0.
    check_eq!(syscall::poll(n)?, 0);
    check_eq!(syscall::poll(n)?, 0);
    syscall::signal(n)?;
    check_eq!(syscall::poll(n)?, 1);
    check_eq!(syscall::poll(n)?, 0);
    Ok(())
}

fn ntfn_rights(c: &mut Ctx) -> TestResult {
    let n = c.notification()?;
    let read_only = mint(c, n, rights::READ, 0x2)?;
    let write_only = mint(c, n, rights::WRITE, 0x8)?;
    check_eq!(syscall::signal(read_only), Err(Error::MissingRight));
    check_eq!(syscall::wait(write_only), Err(Error::MissingRight));
    check_eq!(syscall::poll(write_only), Err(Error::MissingRight));
    // Send is Signal, Recv is Wait on a notification: same rights.
    check_eq!(
        c.ipc.send(read_only, &Message::new(0, &[])),
        Err(Error::MissingRight)
    );
    check_eq!(
        c.ipc.recv(write_only, 0).map(|_| ()),
        Err(Error::MissingRight)
    );
    // The refused signal left nothing; the allowed ones work.
    check_eq!(syscall::poll(read_only)?, 0);
    syscall::signal(write_only)?;
    check_eq!(syscall::poll(read_only)?, 0x8);
    Ok(())
}

/// `[ep, rounds]`: receive `rounds` times on `ep`; round i stores the
/// label (or error) in cell 2i and the badge in cell 2i + 1.
extern "C" fn bound_receiver(arg: u64, buffer: u64) -> ! {
    let [ep, rounds, _, _] = unpack(arg);
    let mut ipc = septum_test_tasks::ktest::thread_ipc(buffer);
    for i in 0..rounds as usize {
        let r = ipc.recv(ep, 0);
        if let Ok(rx) = &r {
            put(2 * i + 1, rx.badge);
        }
        put_result(2 * i, r.map(|rx| rx.msg.label));
    }
    thread_exit()
}

fn bound(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let n = c.notification()?;
    let b20 = mint(c, n, rights::WRITE, 0x20)?;
    let b8 = mint(c, n, rights::WRITE, 0x8)?;
    let t = c.spawn("bound", bound_receiver, pack(&[ep, 4]), PRIO)?;
    c.ipc.tcb_bind_notification(t.tcb, n)?;
    // Pending before the thread receives: its Recv returns at once.
    syscall::signal(b20)?;
    s.run()?;
    check_eq!(get_result(0), Some(Ok(NOTIFICATION_LABEL)));
    check_eq!(get(1), 0x20);
    // Now it is blocked in Recv on the endpoint: the signal ends it.
    check_eq!(get_result(2), None);
    syscall::signal(b8)?;
    s.run()?;
    check_eq!(get_result(2), Some(Ok(NOTIFICATION_LABEL)));
    check_eq!(get(3), 0x8);
    check_eq!(syscall::poll(n)?, 0);
    // The binding outlives a delivery that ended an endpoint wait.
    check_eq!(get_result(4), None);
    syscall::signal(b20)?;
    s.run()?;
    check_eq!(get_result(4), Some(Ok(NOTIFICATION_LABEL)));
    check_eq!(get(5), 0x20);
    // An endpoint message still arrives as usual, with its own label.
    check_eq!(get_result(6), None);
    c.ipc.send(ep, &Message::new(0x77, &[]))?;
    s.run()?;
    check_eq!(get_result(6), Some(Ok(0x77)));
    check_eq!(get(7), 0);
    Ok(())
}

fn bind_twice(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let park = c.notification()?;
    let (n1, n2) = (c.notification()?, c.notification()?);
    let t1 = c.spawn("t1", parked, pack(&[park]), PRIO)?;
    let t2 = c.spawn("t2", parked, pack(&[park]), PRIO)?;
    s.run()?;
    c.ipc.tcb_bind_notification(t1.tcb, n1)?;
    // One notification per thread, one thread per notification.
    check_eq!(
        c.ipc.tcb_bind_notification(t1.tcb, n2),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        c.ipc.tcb_bind_notification(t2.tcb, n1),
        Err(Error::IllegalOperation)
    );
    // Binding needs a notification with READ.
    let write_only = mint(c, n2, rights::WRITE, 0)?;
    check_eq!(
        c.ipc.tcb_bind_notification(t2.tcb, write_only),
        Err(Error::MissingRight)
    );
    let ep = c.endpoint()?;
    check_eq!(
        c.ipc.tcb_bind_notification(t2.tcb, ep),
        Err(Error::WrongType)
    );
    // Unbind frees both sides; a second unbind has nothing to undo.
    c.ipc.tcb_unbind_notification(t1.tcb)?;
    check_eq!(
        c.ipc.tcb_unbind_notification(t1.tcb),
        Err(Error::IllegalOperation)
    );
    c.ipc.tcb_bind_notification(t2.tcb, n1)?;
    c.ipc.tcb_bind_notification(t1.tcb, n2)?;
    Ok(())
}

fn unbind_stops(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    let n = c.notification()?;
    let t = c.spawn("bound", bound_receiver, pack(&[ep, 1]), PRIO)?;
    c.ipc.tcb_bind_notification(t.tcb, n)?;
    s.run()?;
    c.ipc.tcb_unbind_notification(t.tcb)?;
    syscall::signal(n)?;
    s.run()?;
    // The thread still waits on its endpoint; the word stays pending.
    check_eq!(get_result(0), None);
    check_eq!(syscall::poll(n)?, 1);
    c.ipc.send(ep, &Message::new(0x78, &[]))?;
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x78)));
    check!(get(1) == 0, "badge {:#x}", get(1));
    Ok(())
}

/// The order threads reached their marks in.
static ORDER: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn mark(cell: u64) {
    put(
        cell as usize,
        ORDER.fetch_add(1, core::sync::atomic::Ordering::SeqCst) + 1,
    );
}

/// `[n, cell]`: wait on `n`, then mark.
extern "C" fn ordered_waiter(arg: u64, _buffer: u64) -> ! {
    let [n, cell, _, _] = unpack(arg);
    let _ = syscall::wait(n);
    mark(cell);
    thread_exit()
}

/// `[n, cell]`: signal `n`, then mark.
extern "C" fn ordered_signaller(arg: u64, _buffer: u64) -> ! {
    let [n, cell, _, _] = unpack(arg);
    let _ = syscall::signal(n);
    mark(cell);
    thread_exit()
}

/// A signal to a waiter of higher priority runs the waiter before the
/// signaller's next instruction (the kernel switches straight to it); to
/// a waiter of lower priority, the signaller goes on first.
fn signal_preempts(c: &mut Ctx) -> TestResult {
    reset();
    ORDER.store(0, core::sync::atomic::Ordering::SeqCst);
    let s = Settle::new(c)?;
    let (hi, lo) = (c.notification()?, c.notification()?);
    c.spawn("hi-waiter", ordered_waiter, pack(&[hi, 0]), PRIO + 10)?;
    s.run()?;
    c.spawn("signaller", ordered_signaller, pack(&[hi, 1]), PRIO)?;
    s.run()?;
    check_eq!((get(0), get(1)), (1, 2));
    ORDER.store(0, core::sync::atomic::Ordering::SeqCst);
    c.spawn("lo-waiter", ordered_waiter, pack(&[lo, 2]), PRIO - 10)?;
    s.run()?;
    c.spawn("signaller2", ordered_signaller, pack(&[lo, 3]), PRIO)?;
    s.run()?;
    check_eq!((get(3), get(2)), (1, 2));
    Ok(())
}
