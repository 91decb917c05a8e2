//! The vmm's one thread: start the guest, then handle its faults.

use crate::guest::{self, Built, Held, Own};
use crate::mem;
use septum_kcore::elf::Elf;
use septum_kcore::faultlog;
use septum_sysdesc::image::{GuestLaunch, Then};
use septum_sysdesc::policy::{Decision, Tracker, ticks_to_ns};
use septum_user::abi::fault as fk;
use septum_user::ipc::{Ipc, Message};
use septum_user::println;

/// Everything the loop needs, found and made at start.
struct Vmm<'a> {
    ipc: Ipc,
    held: Held,
    own: Own,
    launch: GuestLaunch<'a>,
    elf: Elf<'a>,
    tsc_hz: u64,
    /// What the boot's build took: every rebuild must take as much.
    objects: u32,
    slots: u32,
}

pub fn main() {
    #[allow(unsafe_code)]
    // SAFETY: the root task maps this thread's IPC buffer at
    // USER_IPC_BUFFER; this is the only `Ipc` the vmm makes.
    let mut ipc = unsafe { Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER) };
    let Some(launch) = GuestLaunch::read(mem::launch_page()) else {
        println!("no guest launch page at its kernel window: nothing to run");
        return;
    };
    let Some(elf) = mem::kernel_elf(launch.elf_len).and_then(|b| Elf::parse(b).ok()) else {
        println!(
            "guest {}: its kernel `{}` is not a loadable ELF",
            launch.name, launch.kernel
        );
        return;
    };
    let held = match Held::discover(&mut ipc, launch.memory) {
        Ok(h) => h,
        Err(e) => {
            println!("cannot start: {e}");
            return;
        }
    };
    let own = match Own::make(&mut ipc, &held, &launch) {
        Ok(o) => o,
        Err(e) => {
            println!("cannot start: {e}");
            return;
        }
    };
    let tsc_hz = septum_user::start_tsc_hz();
    let built = match guest::build(&mut ipc, &held, &own, &launch, &elf, 1, tsc_hz) {
        Ok(b) => b,
        Err(e) => {
            println!("guest {}: cannot build it: {e}", launch.name);
            return;
        }
    };
    let slots = guest::occupied(&mut ipc, own.run, built.end);
    println!(
        "guest {}: kernel `{}` ({} KiB), {} MiB quota, priority {}, ASIDs {}..{}, CNode of {} slots; \
         built from {} MiB with {} objects in {} slots; devices: {} channel ends",
        launch.name,
        launch.kernel,
        launch.elf_len >> 10,
        launch.memory >> 20,
        launch.priority,
        launch.asid_first,
        u32::from(launch.asid_first) + u32::from(launch.asid_count),
        1u32 << launch.cnode_radix,
        held.bytes() >> 20,
        built.objects,
        slots,
        held.ends.len()
    );
    if let Err(e) = ipc.tcb_resume(built.tcb) {
        println!("guest {}: cannot start it: {}", launch.name, e.name());
        return;
    }
    if launch.inject_fault_ns > 0 {
        inject_fault(&mut ipc, &launch, built.tcb, tsc_hz);
    }
    let mut vmm = Vmm {
        ipc,
        objects: built.objects,
        slots,
        held,
        own,
        launch,
        elf,
        tsc_hz,
    };
    vmm.serve(built);
}

impl Vmm<'_> {
    fn now_ns(&self) -> u64 {
        ticks_to_ns(mem::rdtsc(), self.tsc_hz)
    }

    /// Receive the guest's faults for ever.
    fn serve(&mut self, mut built: Built) -> ! {
        let mut generation = 1u32;
        let mut tracker = Tracker::new();
        let mut down = false;
        loop {
            // No reply object: a faulted guest stays stopped; the vmm never
            // resumes it, it rebuilds it or leaves it down.
            let r = match self.ipc.recv(self.own.fault_ep, 0) {
                Ok(r) => r,
                Err(e) => {
                    println!("receiving the guest's faults failed: {}", e.name());
                    septum_user::syscall::yield_now();
                    continue;
                }
            };
            if down || r.badge != u64::from(generation) {
                println!(
                    "guest {}: a fault of generation {}, which is gone; nothing to do",
                    self.launch.name, r.badge
                );
                continue;
            }
            self.log_fault(&r.msg);
            let freed = guest::teardown(&mut self.ipc, &self.held, &self.own, &built);
            let wait_ns = match tracker.on_fault(&self.launch.restart, self.now_ns()) {
                Decision::Restart { wait_ns, count } => {
                    println!(
                        "guest {}: taken down (everything it had returned: {freed}); restart {count} \
                         of at most {} within {} ms",
                        self.launch.name,
                        self.launch.restart.max,
                        self.launch.restart.within_ns / 1_000_000
                    );
                    wait_ns
                }
                Decision::Then { then, .. } => {
                    let then = match then {
                        Then::Hold => "hold",
                        _ => "hold (a vmm holds a guest it does not restart)",
                    };
                    println!(
                        "guest {}: held: its restarts ran out (then {then}); taken down and kept \
                         down (everything it had returned: {freed})",
                        self.launch.name
                    );
                    down = true;
                    continue;
                }
            };
            self.wait(wait_ns);
            generation = generation.wrapping_add(1).max(1);
            match guest::build(
                &mut self.ipc,
                &self.held,
                &self.own,
                &self.launch,
                &self.elf,
                generation,
                self.tsc_hz,
            ) {
                Ok(b) => {
                    built = b;
                    let slots = guest::occupied(&mut self.ipc, self.own.run, built.end);
                    if freed && built.objects == self.objects && slots == self.slots {
                        println!(
                            "guest {}: restarted as generation {generation}; its memory was whole \
                             after the revoke and it was rebuilt with {} objects in {slots} slots, \
                             as at boot",
                            self.launch.name, built.objects
                        );
                    } else {
                        println!(
                            "guest {}: ACCOUNTING MISMATCH after restart as generation \
                             {generation}: memory whole after revoke: {freed}, {} objects (boot \
                             {}), {slots} slots (boot {})",
                            self.launch.name, built.objects, self.objects, self.slots
                        );
                    }
                    if let Err(e) = self.ipc.tcb_resume(built.tcb) {
                        println!("guest {}: cannot start it: {}", self.launch.name, e.name());
                    }
                }
                Err(e) => {
                    println!(
                        "guest {}: cannot rebuild it: {e}; it stays down",
                        self.launch.name
                    );
                    down = true;
                }
            }
        }
    }

    /// The fault, symbolized from the guest's kernel, as the supervisor
    /// logs a domain's (`septum_kcore::faultlog`).
    fn log_fault(&self, msg: &Message) {
        let fault = faultlog::Fault::from_words(msg.label, msg.words());
        let mut line: heapless::String<512> = heapless::String::new();
        let _ = faultlog::describe(&mut line, self.launch.name, &fault, Some(&self.elf));
        println!("guest {line}");
    }

    fn wait(&mut self, ns: u64) {
        wait(&mut self.ipc, &self.launch, self.tsc_hz, ns, 0);
    }
}

/// Wait `ns` at priority `at`, yielding, so everything else of the
/// partition at that priority and above runs meanwhile; then take the
/// vmm's own priority back. At the lowest, the wait is a minimum (as the
/// root task's backoff).
fn wait(ipc: &mut Ipc, launch: &GuestLaunch<'_>, tsc_hz: u64, ns: u64, at: u64) {
    if ns == 0 {
        return;
    }
    let now = || ticks_to_ns(mem::rdtsc(), tsc_hz);
    let _ = ipc.tcb_set_priority(guest::SELF_TCB, guest::SELF_TCB, at);
    let deadline = now().saturating_add(ns);
    while now() < deadline {
        septum_user::syscall::yield_now();
    }
    let _ = ipc.tcb_set_priority(guest::SELF_TCB, guest::SELF_TCB, launch.vmm_priority.into());
}

/// The test hook `test_inject_fault`: let the guest's first generation run
/// for the time the description says, then stop its kernel's thread and
/// start it again at address 0, where nothing is mapped: the CPU's page
/// fault reaches the vmm as any fault of the guest kernel does. The vmm
/// waits at the guest kernel's own priority, taking turns with it: the
/// kernel runs, but its processes (below it) do not, so the fault lands
/// while the kernel is in the middle of its work, its first processes
/// alive, however fast the machine.
fn inject_fault(ipc: &mut Ipc, launch: &GuestLaunch<'_>, tcb: u64, tsc_hz: u64) {
    let at = launch.priority.into();
    wait(ipc, launch, tsc_hz, launch.inject_fault_ns, at);
    println!(
        "guest {}: test hook: injecting a fault into its kernel (resumed at address 0)",
        launch.name
    );
    let mut r = [0u64; 18];
    r[fk::W_RSP] = septum_sysdesc::layout::STACK_TOP;
    r[fk::W_RFLAGS] = 0x202;
    // A kernel that already ended (its thread exited) cannot be
    // suspended; it is started again at address 0 all the same.
    let _ = ipc.tcb_suspend(tcb);
    let done = ipc
        .tcb_write_registers(tcb, &r)
        .and_then(|()| ipc.tcb_resume(tcb));
    if let Err(e) = done {
        println!("guest {}: the injection failed: {}", launch.name, e.name());
    }
}
