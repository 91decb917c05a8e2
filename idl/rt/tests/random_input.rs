//! Random and mutated input never makes a decoder panic.
//!
//! Plain seeded loops rather than proptest: millions of cheap cases run in
//! a few seconds even in a debug build. Each loop counts its cases and the
//! totals are checked, so shrinking the loops shows up here.

mod common;

use common::{Mode, Nested, Point, Rng, Shape};
use heapless::{String, Vec};
use septum_idl::wire;
use septum_idl::{IDL_LABEL, InterfaceId, NoError, PAYLOAD_CAPACITY, Region, Request, Status};
use septum_user::ipc::Message;

const IFACE: InterfaceId = InterfaceId {
    name: "Test",
    ordinal: 0x0101,
    version: 3,
};

/// Try `bytes` as every representative type; returns how many decodes ran.
fn decode_all(bytes: &[u8]) -> usize {
    let _ = wire::decode::<u8>(bytes);
    let _ = wire::decode::<u16>(bytes);
    let _ = wire::decode::<u32>(bytes);
    let _ = wire::decode::<u64>(bytes);
    let _ = wire::decode::<i64>(bytes);
    let _ = wire::decode::<bool>(bytes);
    let _ = wire::decode::<()>(bytes);
    let _ = wire::decode::<NoError>(bytes);
    let _ = wire::decode::<Mode>(bytes);
    let _ = wire::decode::<Point>(bytes);
    let _ = wire::decode::<Region>(bytes);
    let _ = wire::decode::<String<16>>(bytes);
    let _ = wire::decode::<Vec<u8, 16>>(bytes);
    let _ = wire::decode::<Vec<u8, 600>>(bytes);
    let _ = wire::decode::<Nested>(bytes);
    let _ = wire::decode::<Shape>(bytes);
    let _ = wire::decode::<(Mode, Shape, bool)>(bytes);
    17
}

fn sample_nested() -> Nested {
    Nested {
        at: Point { x: -5, y: 1 << 20 },
        mode: Mode::Whisper,
        flag: true,
        name: String::try_from("héllo").unwrap(),
        data: Vec::from_slice(&[1, 2, 3, 250, 251]).unwrap(),
        region: Region {
            offset: 4096,
            len: u32::MAX,
        },
        big: u64::MAX - 3,
        small: -128,
        half: 300,
        signed: i64::MIN,
    }
}

#[test]
fn random_bytes_never_panic_decode() {
    let mut rng = Rng::new(0x5e97_0001);
    let mut buf = [0u8; 80];
    let mut cases = 0;
    for _ in 0..200_000 {
        let len = match rng.below(4) {
            0 => rng.below(4),
            1 => rng.below(16),
            _ => rng.below(80),
        } as usize;
        let bytes = &mut buf[..len];
        rng.bytes(bytes);
        // Small values make valid lengths and tags likely.
        if rng.below(2) == 0 {
            for b in bytes.iter_mut() {
                *b &= 0x0f;
            }
        }
        cases += decode_all(bytes);
    }
    assert!(cases >= 3_000_000, "{cases} cases");
}

#[test]
fn mutated_encodings_never_panic_decode() {
    let mut rng = Rng::new(0x5e97_0002);
    let mut valid = [0u8; PAYLOAD_CAPACITY];
    let len = postcard::to_slice(
        &(
            sample_nested(),
            Shape::Named(String::try_from("abc").unwrap()),
        ),
        &mut valid,
    )
    .unwrap()
    .len();
    let mut cases = 0;
    for _ in 0..100_000 {
        let mut bytes = valid;
        for _ in 0..=rng.below(3) {
            let i = rng.below(len as u64) as usize;
            bytes[i] = match rng.below(3) {
                0 => rng.next() as u8,
                1 => bytes[i] ^ (1 << rng.below(8)),
                _ => 0xff,
            };
        }
        let cut = len - rng.below(4).min(len as u64) as usize;
        let _ = wire::decode::<(Nested, Shape)>(&bytes[..cut]);
        cases += 1 + decode_all(&bytes[..cut]);
    }
    assert!(cases >= 1_000_000, "{cases} cases");
}

/// A message that is sometimes well formed, often nearly.
fn random_message(rng: &mut Rng) -> Message {
    let mut msg = Message::new(0, &[]);
    msg.label = match rng.below(8) {
        0 => rng.next(),
        1 => septum_abi::ipc::NOTIFICATION_LABEL,
        _ => IDL_LABEL,
    };
    let payload_len = rng.below(PAYLOAD_CAPACITY as u64 + 20) as u16;
    let status = rng.below(10);
    let header = match rng.below(4) {
        0 => rng.next(),
        1 => wire::RequestHeader {
            ordinal: if rng.below(4) == 0 {
                rng.next() as u16
            } else {
                IFACE.ordinal
            },
            version: if rng.below(4) == 0 {
                rng.next() as u16
            } else {
                IFACE.version
            },
            method: rng.below(4) as u16,
            len: payload_len,
        }
        .encode(),
        _ => status | (rng.below(3) << 16) | (u64::from(payload_len) << 48),
    };
    msg.words[0] = header;
    let words = usize::from(payload_len).div_ceil(8);
    msg.len = match rng.below(6) {
        0 => rng.below(200) as usize, // may exceed the word array
        1 => words,
        2 => words + 2,
        _ => words + 1,
    };
    msg.caps = rng.below(5) as usize;
    for w in msg.words.iter_mut().skip(1).take(words.min(8) + 1) {
        *w = rng.next() & 0x0f0f_0f0f_0f0f_0f0f;
    }
    msg
}

#[test]
fn random_messages_never_panic_the_header_decoders() {
    let mut rng = Rng::new(0x5e97_0003);
    let mut cases = 0;
    let mut accepted = 0;
    let mut buf = [0u8; PAYLOAD_CAPACITY];
    for _ in 0..250_000 {
        let msg = random_message(&mut rng);
        if let Ok(h) = wire::decode_request_header(&msg)
            && let Ok(bytes) = wire::payload(&msg, h.len, &mut buf)
        {
            let _ = wire::decode::<Nested>(bytes);
        }
        if let Ok(h) = wire::decode_reply_header(&msg) {
            let _ = wire::payload(&msg, h.len, &mut buf);
        }
        let _ = wire::payload(&msg, rng.next() as u16, &mut buf);
        let mut generation = if rng.below(2) == 0 {
            None
        } else {
            Some(rng.below(3) as u32)
        };
        let _ = septum_idl::interpret_reply::<Shape, Mode>(&msg, &mut generation);
        let _ = septum_idl::interpret_reply::<(), NoError>(&msg, &mut generation);
        match Request::from_message(rng.next(), &msg, &IFACE) {
            Ok(req) => {
                accepted += 1;
                assert!(req.caps <= 3);
                assert!(req.payload().len() <= PAYLOAD_CAPACITY);
                let _ = req.args::<Nested>();
                let _ = req.args::<Vec<u8, 16>>();
            }
            Err(s) => assert!(matches!(
                s,
                Status::Malformed | Status::WrongInterface | Status::VersionMismatch
            )),
        }
        cases += 1;
    }
    // 250k messages through 7 entry points: every one survives; some are
    // real requests, so the accepting path is exercised too.
    assert!(cases * 7 >= 1_000_000);
    assert!(accepted > 1000, "only {accepted} accepted");
}

#[test]
fn random_header_words_never_panic() {
    let mut rng = Rng::new(0x5e97_0004);
    for _ in 0..1_000_000 {
        let w = rng.next();
        let _ = wire::RequestHeader::from_word(w);
        if let Ok(h) = wire::ReplyHeader::from_word(w) {
            assert_eq!(h.encode(), w);
        }
    }
}
