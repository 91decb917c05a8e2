//! The judge of the timer scenario (`tests/systems/timer.toml`).
//!
//! First it checks the plain semantics of a sleep on the timer server: a
//! relative sleep ends no earlier than asked, a deadline already passed is
//! answered at once. Then it serves `SleepTest`: it keeps every sleeper's
//! `plan` call waiting until all 21 (twenty sleepers and the victim) have
//! asked, reads the clock once, and hands out deadlines 300 ms ahead and
//! 10 ms apart in an order scrambled against the badges (and so against
//! the order the sleepers started in); the victim's lies in the middle.
//! Each sleeper reports when it woke; once the twenty have, the judge
//! checks that they woke in deadline order, none before its deadline, that
//! the victim was killed asleep (it never reported, and came back as a new
//! generation) and that the sleepers after its deadline still woke.
//!
//! What is asserted is order, not timing: a sleeper the machine ran so
//! late that its call reached the server after its deadline (a host that
//! stalls QEMU for 300 ms) is reported and left out of the order check.
//!
//! Its slots: 8 the `timer` endpoint (call), 9 the `sleep_test` endpoint
//! it serves, 10.. its reply objects.
#![no_std]
#![no_main]

use septum_idl::{NoError, ReplyToken, ServerCtx, reply_pool};
use septum_interfaces::sleep_test::{Plan, Role, SleepTestServer, serve};
use septum_interfaces::timer::TimerClient;
use septum_user::ipc::Ipc;
use septum_user::println;

const TIMER: u64 = 8;
const ENDPOINT: u64 = 9;
const REPLY_FIRST: u64 = 10;
const REPLIES: u64 = 24;
/// Sleepers have badges 1..=SLEEPERS; the victim and the bomber follow.
const SLEEPERS: u64 = 20;
const VICTIM: u64 = 21;
const MARGIN_NS: u64 = 300_000_000;
const STEP_NS: u64 = 10_000_000;
const MS: u64 = 1_000_000;

septum_user::entry!(main);

/// Sleeper `badge`'s place in the wake order: 7 is prime to 20, so this
/// is a permutation of 0..20 far from the badges' own order.
fn rank(badge: u64) -> u64 {
    (badge * 7) % SLEEPERS
}

struct Report {
    badge: u64,
    deadline: u64,
    called: u64,
    woke: u64,
}

struct Judge {
    timer: TimerClient,
    plans: heapless::Vec<(u64, ReplyToken<Plan, NoError>), 24>,
    doom: Option<ReplyToken<(), NoError>>,
    /// The clock when the plans were handed out.
    t0: Option<u64>,
    reports: heapless::Vec<Report, 24>,
    reborn: bool,
    victim_woke: bool,
    judged: bool,
}

impl Judge {
    fn deadline(&self, t0: u64, badge: u64) -> u64 {
        if badge == VICTIM {
            t0 + MARGIN_NS + 9 * STEP_NS + STEP_NS / 2
        } else {
            t0 + MARGIN_NS + rank(badge) * STEP_NS
        }
    }

    /// Everyone has asked: hand out the deadlines, and the bomber's leave.
    fn release(&mut self, ipc: &mut Ipc) {
        let t0 = match self.timer.now(ipc) {
            Ok(t) => t,
            Err(e) => {
                println!("septum-test: timer_wake_order FAILED now() failed: {e:?}");
                return;
            }
        };
        self.t0 = Some(t0);
        println!("all 21 sleepers asked; deadlines from {t0} ns + 300 ms, 10 ms apart");
        while let Some((badge, token)) = self.plans.pop() {
            let role = if badge == VICTIM {
                Role::Victim
            } else {
                Role::Sleeper
            };
            let deadline = self.deadline(t0, badge);
            token.ok(ipc, Plan { deadline, role });
        }
        if let Some(d) = self.doom.take() {
            d.ok(ipc, ());
        }
    }

    fn judge(&mut self) {
        self.judged = true;
        let Some(t0) = self.t0 else { return };
        let victim_deadline = self.deadline(t0, VICTIM);
        let mut in_order = true;
        let mut early = 0;
        let mut late_calls = 0;
        let mut prev: Option<u64> = None;
        let mut after_victim = 0;
        for r in &self.reports {
            println!(
                "woke: sleeper {:2}, deadline +{} ms, answered {} us after it",
                r.badge,
                (r.deadline - t0) / MS,
                r.woke.saturating_sub(r.deadline) / 1000
            );
            if r.woke < r.deadline {
                early += 1;
            }
            if r.called >= r.deadline {
                late_calls += 1;
                println!("  (its call reached the server after its deadline: not ordered)");
                continue;
            }
            if prev.is_some_and(|p| p >= r.deadline) {
                in_order = false;
            }
            prev = Some(r.deadline);
            if r.deadline > victim_deadline {
                after_victim += 1;
            }
        }
        let all = self.reports.len() as u64 == SLEEPERS;
        if all && in_order && early == 0 && late_calls < SLEEPERS {
            println!("septum-test: timer_wake_order ok");
        } else {
            println!(
                "septum-test: timer_wake_order FAILED {} reports, in order: {in_order}, {early} early, {late_calls} late calls",
                self.reports.len()
            );
        }
        if all && in_order && self.reborn && !self.victim_woke && after_victim > 0 {
            println!(
                "the victim died asleep (deadline +{} ms) and came back; {after_victim} sleepers after its deadline woke in order",
                (victim_deadline - t0) / MS
            );
            println!("septum-test: timer_dead_sleeper_harmless ok");
        } else {
            println!(
                "septum-test: timer_dead_sleeper_harmless FAILED reborn: {}, victim woke: {}, {after_victim} woke after its deadline",
                self.reborn, self.victim_woke
            );
        }
    }
}

impl SleepTestServer for Judge {
    fn plan(&mut self, ctx: &mut ServerCtx<'_>, reply: ReplyToken<Plan, NoError>) {
        let badge = septum_idl::caller_badge();
        if badge == VICTIM && self.t0.is_some() {
            self.reborn = true;
            println!("the victim asks again: it was restarted");
            return reply.ok(
                ctx.ipc,
                Plan {
                    deadline: 0,
                    role: Role::Reborn,
                },
            );
        }
        if self.t0.is_some() || self.plans.iter().any(|(b, _)| *b == badge) {
            println!("sleeper {badge} asked twice");
            return reply.status(septum_idl::Status::Dropped);
        }
        if let Err((_, token)) = self.plans.push((badge, reply)) {
            return token.status(septum_idl::Status::Dropped);
        }
        if self.plans.len() as u64 == SLEEPERS + 1 {
            self.release(ctx.ipc);
        }
    }

    fn woke(
        &mut self,
        ctx: &mut ServerCtx<'_>,
        deadline: u64,
        called_at: u64,
        woke_at: u64,
        reply: ReplyToken<(), NoError>,
    ) {
        let badge = septum_idl::caller_badge();
        if badge == VICTIM {
            self.victim_woke = true;
            println!("the victim woke: it should have died asleep");
        } else {
            let _ = self.reports.push(Report {
                badge,
                deadline,
                called: called_at,
                woke: woke_at,
            });
        }
        reply.ok(ctx.ipc, ());
        if self.reports.len() as u64 == SLEEPERS && !self.judged {
            self.judge();
        }
    }

    fn doom(&mut self, ctx: &mut ServerCtx<'_>, reply: ReplyToken<(), NoError>) {
        if self.t0.is_some() {
            reply.ok(ctx.ipc, ());
        } else {
            self.doom = Some(reply);
        }
    }
}

/// A sleep ends no earlier than asked; a deadline already passed is
/// answered at once, with the clock then.
fn sleep_semantics(ipc: &mut Ipc, timer: &mut TimerClient) {
    let result = (|| {
        let t = timer.now(ipc).map_err(|_| "now() failed")?;
        let w = timer.sleep(ipc, 2 * MS).map_err(|_| "sleep(2 ms) failed")?;
        if w < t + 2 * MS {
            return Err("sleep(2 ms) ended early");
        }
        let past = timer
            .sleep_until(ipc, t)
            .map_err(|_| "sleep_until(past) failed")?;
        if past < w {
            return Err("sleep_until(a passed deadline) answered a clock behind an earlier answer");
        }
        println!(
            "sleep(2 ms) took {} us by the clock; sleep_until(a passed deadline) answered at once",
            (w - t) / 1000
        );
        Ok(())
    })();
    match result {
        Ok(()) => println!("septum-test: timer_sleep_semantics ok"),
        Err(why) => println!("septum-test: timer_sleep_semantics FAILED {why}"),
    }
}

fn main() {
    let mut ipc = septum_test_tasks::domain_ipc();
    let mut timer = TimerClient::new(TIMER);
    sleep_semantics(&mut ipc, &mut timer);
    let replies: heapless::Vec<u64, 32> = (REPLY_FIRST..REPLY_FIRST + REPLIES).collect();
    reply_pool::init(&replies);
    let mut judge = Judge {
        timer,
        plans: heapless::Vec::new(),
        doom: None,
        t0: None,
        reports: heapless::Vec::new(),
        reborn: false,
        victim_woke: false,
        judged: false,
    };
    let mut ctx = ServerCtx {
        ipc: &mut ipc,
        generation: septum_user::start_arg() as u32,
        recv_cnode: 0,
        recv_first: 0,
    };
    serve(&mut judge, &mut ctx, ENDPOINT)
}
