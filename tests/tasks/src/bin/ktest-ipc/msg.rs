//! Message transfer: every length, labels, the register/buffer boundary,
//! receivers without an IPC buffer, and malformed message-info words.

use crate::common::{
    PRIO, Settle, XOR, echo_server, get, get_result, pack, pattern, pattern_msg, put, receiver,
    reset, spawn_bufferless, unpack,
};
use septum_test_tasks::ktest::{Ctx, Test, TestResult, thread_ipc};
use septum_test_tasks::{check, check_eq};
use septum_user::abi::ipc::{MAX_LABEL, MAX_WORDS, MessageInfo};
use septum_user::abi::{Error, syscall as nr};
use septum_user::ipc::Message;
use septum_user::syscall::{self, raw, thread_exit};

pub const TESTS: &[Test] = &[
    Test {
        name: "ipc_send_recv_every_length",
        run: send_recv_every_length,
    },
    Test {
        name: "ipc_call_replyrecv_every_length",
        run: call_every_length,
    },
    Test {
        name: "ipc_message_0_words",
        run: zero_words,
    },
    Test {
        name: "ipc_message_4_words_registers_only",
        run: four_words,
    },
    Test {
        name: "ipc_message_5_words_first_buffer_word",
        run: five_words,
    },
    Test {
        name: "ipc_message_68_words_maximum",
        run: max_words,
    },
    Test {
        name: "ipc_label_arrives",
        run: labels,
    },
    Test {
        name: "ipc_words_beyond_receiver_buffer_dropped",
        run: beyond_receiver,
    },
    Test {
        name: "ipc_info_too_long_refused",
        run: too_long,
    },
    Test {
        name: "ipc_info_reserved_bits_refused",
        run: reserved_bits,
    },
];

/// `[ep]`: send one message of every length 0..=68 (label 0x100 + n,
/// seed n); cell 0 := how many sends succeeded.
extern "C" fn all_lengths_sender(arg: u64, buffer: u64) -> ! {
    let [ep, ..] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    let mut sent = 0;
    for n in 0..=MAX_WORDS {
        if ipc
            .send(ep, &pattern_msg(0x100 + n as u64, n as u64, n))
            .is_ok()
        {
            sent += 1;
        }
    }
    put(0, sent);
    thread_exit()
}

/// Check that `got` is the echo of `sent`.
fn check_echo(sent: &Message, got: &septum_user::ipc::Received) -> TestResult {
    check_eq!(got.badge, 0);
    check_eq!(got.msg.len, sent.len);
    check_eq!(got.msg.label, sent.label + 1);
    check_eq!(got.msg.caps, 0);
    for i in 0..sent.len {
        check!(
            got.msg.words[i] == sent.words[i] ^ XOR,
            "len {}: word {} = {:#x}, expected {:#x}",
            sent.len,
            i,
            got.msg.words[i],
            sent.words[i] ^ XOR
        );
    }
    Ok(())
}

/// Call an echo server with `len` pattern words and check the answer.
fn call_echo(c: &mut Ctx, ep: u64, len: usize) -> TestResult {
    let m = pattern_msg(0x200 + len as u64, 1000 + len as u64, len);
    let got = c.ipc.call(ep, &m)?;
    check_echo(&m, &got)
}

fn echo_setup(c: &mut Ctx) -> Result<u64, Error> {
    let ep = c.endpoint()?;
    let reply = c.reply()?;
    c.spawn("echo", echo_server, pack(&[ep, reply]), PRIO)?;
    Ok(ep)
}

fn send_recv_every_length(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    c.spawn("sender", all_lengths_sender, pack(&[ep]), PRIO)?;
    for n in 0..=MAX_WORDS {
        let r = c.ipc.recv(ep, 0)?;
        check_eq!(r.badge, 0);
        check_eq!(r.msg.len, n);
        check_eq!(r.msg.label, 0x100 + n as u64);
        for i in 0..n {
            check!(
                r.msg.words[i] == pattern(n as u64, i),
                "len {}: word {} = {:#x}, expected {:#x}",
                n,
                i,
                r.msg.words[i],
                pattern(n as u64, i)
            );
        }
    }
    s.run()?;
    check_eq!(get(0), MAX_WORDS as u64 + 1);
    Ok(())
}

fn call_every_length(c: &mut Ctx) -> TestResult {
    let ep = echo_setup(c)?;
    for n in 0..=MAX_WORDS {
        call_echo(c, ep, n)?;
    }
    // Downwards too: a shorter message after a longer one carries only
    // its own words.
    for n in (0..=MAX_WORDS).rev() {
        call_echo(c, ep, n)?;
    }
    Ok(())
}

fn zero_words(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = echo_setup(c)?;
    call_echo(c, ep, 0)?;
    // A plain Send of no words to a waiting receiver.
    let ep2 = c.endpoint()?;
    c.spawn("receiver", receiver, pack(&[ep2, 0]), PRIO)?;
    s.run()?;
    c.ipc.send(ep2, &Message::new(0x42, &[]))?;
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x42)));
    // Word 0 of a message without words reads as 0.
    check_eq!(get(2), 0);
    Ok(())
}

/// `[ep]`, no IPC buffer: send 4 or 5 register words (the 5th would be in
/// the buffer it does not have); cell 0 := status.
extern "C" fn bufferless_sender(arg: u64, _buffer: u64) -> ! {
    let [ep, len, ..] = unpack(arg);
    let words = [
        pattern(77, 0),
        pattern(77, 1),
        pattern(77, 2),
        pattern(77, 3),
    ];
    let r = raw(nr::SEND, ep, syscall::info(0x77, len as usize), words, 0);
    put(0, r.rax);
    thread_exit()
}

fn four_words(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = echo_setup(c)?;
    call_echo(c, ep, 4)?;
    // A thread without an IPC buffer sends 4 words: registers suffice.
    let ep2 = c.endpoint()?;
    spawn_bufferless(c, bufferless_sender, pack(&[ep2, 4]))?;
    let r = c.ipc.recv(ep2, 0)?;
    check_eq!(r.msg.len, 4);
    check_eq!(r.msg.label, 0x77);
    for i in 0..4 {
        check_eq!(r.msg.words[i], pattern(77, i));
    }
    s.run()?;
    check_eq!(get(0), 0);
    Ok(())
}

fn five_words(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = echo_setup(c)?;
    call_echo(c, ep, 5)?;
    // The 5th word is the first IPC-buffer word: a sender without a
    // buffer sends it as 0. Stage a non-zero value in our own buffer
    // first (a refused non-blocking send still writes it there), so the
    // 0 must have come from the kernel.
    let ep2 = c.endpoint()?;
    check_eq!(
        c.ipc.nb_send(ep2, &pattern_msg(1, 5, 5)),
        Err(Error::WouldBlock)
    );
    spawn_bufferless(c, bufferless_sender, pack(&[ep2, 5]))?;
    let r = c.ipc.recv(ep2, 0)?;
    check_eq!(r.msg.len, 5);
    for i in 0..4 {
        check_eq!(r.msg.words[i], pattern(77, i));
    }
    check_eq!(r.msg.words[4], 0);
    s.run()?;
    check_eq!(get(0), 0);
    Ok(())
}

fn max_words(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = echo_setup(c)?;
    call_echo(c, ep, MAX_WORDS)?;
    // And with Send/Recv, the receiver waiting first.
    let ep2 = c.endpoint()?;
    c.spawn("receiver", max_receiver, pack(&[ep2]), PRIO)?;
    s.run()?;
    c.ipc.send(ep2, &pattern_msg(0x68, 68, MAX_WORDS))?;
    s.run()?;
    check_eq!(get(0), MAX_WORDS as u64);
    check_eq!(get(1), 0x68);
    check_eq!(get(2), 0);
    Ok(())
}

/// `[ep]`: receive once; cell 0 := length, 1 := label, 2 := how many words
/// differ from `pattern(68, i)`.
extern "C" fn max_receiver(arg: u64, buffer: u64) -> ! {
    let [ep, ..] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    if let Ok(r) = ipc.recv(ep, 0) {
        let bad = (0..r.msg.len)
            .filter(|&i| r.msg.words[i] != pattern(68, i))
            .count();
        put(2, bad as u64);
        put(1, r.msg.label);
        put(0, r.msg.len as u64);
    }
    thread_exit()
}

const LABELS: [u64; 6] = [0, 1, 0x5e97, 0xfff, 1 << 40, MAX_LABEL - 1];

/// `[ep]`: send one message per label in `LABELS`.
extern "C" fn label_sender(arg: u64, buffer: u64) -> ! {
    let [ep, ..] = unpack(arg);
    let mut ipc = thread_ipc(buffer);
    for (i, &l) in LABELS.iter().enumerate() {
        let _ = ipc.send(ep, &Message::new(l, &[i as u64]));
    }
    thread_exit()
}

fn labels(c: &mut Ctx) -> TestResult {
    let ep = c.endpoint()?;
    c.spawn("labels", label_sender, pack(&[ep]), PRIO)?;
    for (i, &l) in LABELS.iter().enumerate() {
        let r = c.ipc.recv(ep, 0)?;
        check_eq!(r.msg.label, l);
        check_eq!(r.msg.words(), &[i as u64][..]);
    }
    // The label of a reply arrives too.
    let ep2 = echo_setup(c)?;
    for &l in &LABELS[..5] {
        let r = c.ipc.call(ep2, &Message::new(l, &[]))?;
        check_eq!(r.msg.label, l + 1);
    }
    Ok(())
}

/// `[ep]`, no IPC buffer: receive once through the raw call; cells 0–5 :=
/// rax, info, and the four register words.
extern "C" fn bufferless_receiver(arg: u64, _buffer: u64) -> ! {
    let [ep, ..] = unpack(arg);
    let r = raw(nr::RECV, ep, 0, [0; 4], 0);
    for (i, w) in r.mr.iter().enumerate() {
        put(2 + i, *w);
    }
    put(1, r.rsi);
    put(0, r.rax);
    thread_exit()
}

fn beyond_receiver(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    spawn_bufferless(c, bufferless_receiver, pack(&[ep]))?;
    s.run()?;
    c.ipc.send(ep, &pattern_msg(0x99, 10, 10))?;
    s.run()?;
    check_eq!(get(0), 0);
    // Only the four register words arrived, and the info says so.
    let info = MessageInfo::decode(get(1)).map_err(|_| Error::Range)?;
    check_eq!(info.words(), 4);
    check_eq!(info.label(), 0x99);
    check_eq!(info.caps(), 0);
    for i in 0..4 {
        check_eq!(get(2 + i), pattern(10, i));
    }
    Ok(())
}

/// Raw Send, NBSend and Call on `ep` with `info` must all fail with Range.
fn refused(ep: u64, info: u64) -> TestResult {
    for number in [nr::SEND, nr::NB_SEND, nr::CALL] {
        let r = raw(number, ep, info, [1, 2, 3, 4], 0);
        check!(
            r.rax == Error::Range.to_rax(),
            "call {:#x} with info {:#x}: rax {:#x}, expected Range",
            number,
            info,
            r.rax
        );
    }
    Ok(())
}

fn too_long(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    c.spawn("receiver", receiver, pack(&[ep, 0]), PRIO)?;
    s.run()?;
    for words in [69, 70, 0x7f] {
        refused(ep, (0x33 << 12) | words)?;
    }
    // The waiting receiver got none of them.
    s.run()?;
    check_eq!(get_result(0), None);
    // A reply that long is refused too.
    let reply = c.reply()?;
    check_eq!(
        raw(nr::REPLY, reply, 69, [0; 4], 0).rax,
        Error::Range.to_rax()
    );
    // The largest valid length still goes through.
    let info = (0x34 << 12) | MAX_WORDS as u64;
    check_eq!(raw(nr::SEND, ep, info, [9, 0, 0, 0], 0).rax, 0);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x34)));
    check_eq!(get(2), 9);
    Ok(())
}

fn reserved_bits(c: &mut Ctx) -> TestResult {
    reset();
    let s = Settle::new(c)?;
    let ep = c.endpoint()?;
    c.spawn("receiver", receiver, pack(&[ep, 0]), PRIO)?;
    s.run()?;
    for bit in [9, 10, 11] {
        refused(ep, (0x35 << 12) | (1 << bit) | 1)?;
    }
    s.run()?;
    check_eq!(get_result(0), None);
    // Reply and ReplyRecv decode the info too.
    let reply = c.reply()?;
    let ep2 = c.endpoint()?;
    check_eq!(
        raw(nr::REPLY, reply, 1 << 9, [0; 4], 0).rax,
        Error::Range.to_rax()
    );
    check_eq!(
        raw(nr::REPLY_RECV, ep2, 1 << 11, [0; 4], reply).rax,
        Error::Range.to_rax()
    );
    // The same word without the reserved bit is accepted.
    check_eq!(raw(nr::SEND, ep, (0x35 << 12) | 1, [5, 0, 0, 0], 0).rax, 0);
    s.run()?;
    check_eq!(get_result(0), Some(Ok(0x35)));
    check_eq!(get(2), 5);
    Ok(())
}
