//! The generated code of the reference interface against the runtime's wire
//! format, on the host:
//!
//! - every request and reply of every `Echo` method round-trips through
//!   `septum_idl::wire` for random values, the generated args struct decodes
//!   what a tuple of the declared arguments encodes (same fields, same
//!   order), and no encoding is larger than the generator's worst case;
//! - worst-case values reach that bound exactly, so it is not just loose;
//! - random and mutated bytes fed to every generated decoder never panic.

use heapless::{String, Vec};
use septum_idl::{IDL_LABEL, PAYLOAD_CAPACITY, Region, Status, wire};
use septum_interfaces::echo::{self, EchoError, Mode, Point, Rect, Widths};
use septum_user::ipc::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// splitmix64: small, seeded, good enough to pick test values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Integers biased to the edges, where varints change length.
    fn int(&mut self) -> u64 {
        let v = self.next();
        match self.below(4) {
            0 => v,
            1 => v >> self.below(64),
            2 => [0, 1, 127, 128, 16383, 16384, u64::MAX][self.below(7) as usize],
            _ => v & 0xff,
        }
    }

    fn mode(&mut self) -> Mode {
        [Mode::Plain, Mode::Shout, Mode::Reverse][self.below(3) as usize]
    }

    fn error(&mut self) -> EchoError {
        [
            EchoError::TooLong,
            EchoError::Forbidden,
            EchoError::OutOfRange,
        ][self.below(3) as usize]
    }

    fn point(&mut self) -> Point {
        Point {
            x: self.int() as i32,
            y: self.int() as i32,
        }
    }

    fn widths(&mut self) -> Widths {
        Widths {
            a: self.int() as u8,
            b: self.int() as u16,
            c: self.int() as u32,
            d: self.int(),
            e: self.int() as i8,
            f: self.int() as i16,
            g: self.int() as i32,
            h: self.int() as i64,
        }
    }

    /// Up to N bytes of 1- to 4-byte characters.
    fn string<const N: usize>(&mut self) -> String<N> {
        let mut s = String::new();
        let want = self.below(N as u64 + 1) as usize;
        while s.len() < want {
            let c = ['a', 'Z', ' ', '~', 'é', '€', '😀', '\u{7f}'][self.below(8) as usize];
            if s.push(c).is_err() {
                break;
            }
        }
        s
    }

    fn bytes<const N: usize>(&mut self) -> Vec<u8, N> {
        let len = self.below(N as u64 + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn rect(&mut self) -> Rect {
        Rect {
            origin: self.point(),
            size: self.point(),
            label: self.string(),
        }
    }

    fn region(&mut self) -> Region {
        Region {
            offset: self.int() as u32,
            len: self.int() as u32,
        }
    }
}

/// Encodes `args` as a request for `method`, checks the header and the
/// size bound, decodes it with the generated decoder and as `T`; returns
/// the payload length.
fn request<T>(method: u16, args: &T, caps: usize, max: usize) -> usize
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut msg = Message::new(0, &[]);
    wire::encode_request(&echo::INTERFACE, method, args, caps, &mut msg).expect("encode");
    assert_eq!(msg.label, IDL_LABEL);
    assert_eq!(msg.caps, caps);
    let h = wire::decode_request_header(&msg).expect("header");
    assert_eq!((h.ordinal, h.version, h.method), (0x0101, 1, method));
    let len = usize::from(h.len);
    assert!(
        len <= max,
        "method {method}: {len} bytes > {max} for {args:?}"
    );
    let mut buf = [0; PAYLOAD_CAPACITY];
    let bytes = wire::payload(&msg, h.len, &mut buf).expect("payload");
    echo::__decode_request(method, bytes)
        .unwrap_or_else(|e| panic!("method {method}: generated decoder: {e:?} for {args:?}"));
    let back: T = wire::decode(bytes).expect("decode");
    assert_eq!(&back, args);
    len
}

/// As `request`, for a reply with `status` (`Ok` or `MethodError`).
fn reply<T>(method: u16, status: Status, value: &T, max: usize) -> usize
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut msg = Message::new(0, &[]);
    wire::encode_reply(status, 0xdead_beef, Some(value), &mut msg).expect("encode");
    let h = wire::decode_reply_header(&msg).expect("header");
    assert_eq!((h.status, h.generation), (status, 0xdead_beef));
    let len = usize::from(h.len);
    assert!(
        len <= max,
        "method {method}: {len} bytes > {max} for {value:?}"
    );
    let mut buf = [0; PAYLOAD_CAPACITY];
    let bytes = wire::payload(&msg, h.len, &mut buf).expect("payload");
    echo::__decode_reply(method, status, bytes)
        .unwrap_or_else(|e| panic!("method {method}: generated decoder: {e:?} for {value:?}"));
    let back: T = wire::decode(bytes).expect("decode");
    assert_eq!(&back, value);
    len
}

const CASES: usize = 20_000;

#[test]
fn requests_round_trip() {
    use echo::*;
    let mut r = Rng(1);
    for _ in 0..CASES {
        request(
            METHOD_ECHO,
            &(r.string::<64>(), r.mode()),
            0,
            ECHO_REQUEST_MAX,
        );
        request(
            METHOD_ADD,
            &(r.int() as u32, r.int() as u32),
            0,
            ADD_REQUEST_MAX,
        );
        let w = r.widths();
        let all = (w.a, w.b, w.c, w.d, w.e, w.f, w.g, w.h);
        request(METHOD_SUM, &all, 0, SUM_REQUEST_MAX);
        request(METHOD_INCREMENT, &(w,), 0, INCREMENT_REQUEST_MAX);
        request(METHOD_INVERT, &(r.below(2) == 1,), 0, INVERT_REQUEST_MAX);
        request(METHOD_NEXT_MODE, &(r.mode(),), 0, NEXT_MODE_REQUEST_MAX);
        request(
            METHOD_MOVE_TO,
            &(r.point(), r.below(2) == 1),
            0,
            MOVE_TO_REQUEST_MAX,
        );
        request(METHOD_POSITION, &(), 0, POSITION_REQUEST_MAX);
        request(METHOD_AREA, &(r.rect(),), 0, AREA_REQUEST_MAX);
        request(
            METHOD_CHECKSUM,
            &(r.bytes::<256>(),),
            0,
            CHECKSUM_REQUEST_MAX,
        );
        request(METHOD_REVERSE, &(r.bytes::<64>(),), 0, REVERSE_REQUEST_MAX);
        request(METHOD_READ, &(r.region(),), 0, READ_REQUEST_MAX);
        // Capability arguments travel as their index among the transferred ones.
        request(METHOD_SIGNAL, &(0u8, r.int()), 1, SIGNAL_REQUEST_MAX);
        request(
            METHOD_TRANSFER,
            &(0u8, 1u8, 2u8, r.int() as u8),
            3,
            TRANSFER_REQUEST_MAX,
        );
    }
}

#[test]
fn replies_round_trip() {
    use echo::*;
    use septum_idl::Status::{MethodError, Ok};
    let mut r = Rng(2);
    for _ in 0..CASES {
        reply(METHOD_ECHO, Ok, &r.string::<64>(), ECHO_REPLY_MAX);
        reply(METHOD_ADD, Ok, &r.int(), ADD_REPLY_MAX);
        reply(METHOD_SUM, Ok, &(r.int() as i64), SUM_REPLY_MAX);
        reply(METHOD_INCREMENT, Ok, &r.widths(), INCREMENT_REPLY_MAX);
        reply(METHOD_INVERT, Ok, &(r.below(2) == 0), INVERT_REPLY_MAX);
        reply(METHOD_NEXT_MODE, Ok, &r.mode(), NEXT_MODE_REPLY_MAX);
        reply(METHOD_MOVE_TO, Ok, &(), MOVE_TO_REPLY_MAX);
        reply(METHOD_POSITION, Ok, &r.point(), POSITION_REPLY_MAX);
        reply(METHOD_AREA, Ok, &r.int(), AREA_REPLY_MAX);
        reply(METHOD_CHECKSUM, Ok, &(r.int() as u32), CHECKSUM_REPLY_MAX);
        reply(METHOD_REVERSE, Ok, &r.bytes::<32>(), REVERSE_REPLY_MAX);
        reply(METHOD_READ, Ok, &r.bytes::<32>(), READ_REPLY_MAX);
        reply(METHOD_SIGNAL, Ok, &(), SIGNAL_REPLY_MAX);
        reply(METHOD_TRANSFER, Ok, &(r.int() as u8), TRANSFER_REPLY_MAX);
        for (m, max) in [
            (METHOD_ECHO, ECHO_REPLY_MAX),
            (METHOD_AREA, AREA_REPLY_MAX),
            (METHOD_REVERSE, REVERSE_REPLY_MAX),
            (METHOD_READ, READ_REPLY_MAX),
        ] {
            reply(m, MethodError, &r.error(), max);
        }
    }
}

/// The generator's bounds are tight: the largest values take them exactly.
#[test]
fn worst_cases_reach_the_bounds() {
    use echo::*;
    let max_string =
        |c: char, n: usize| -> std::string::String { std::iter::repeat_n(c, n).collect() };
    let text: String<64> = String::try_from(max_string('€', 21).as_str()).expect("63 bytes");
    let mut text64 = text.clone();
    text64.push('a').expect("64 bytes");
    let len = request(
        METHOD_ECHO,
        &(text64.clone(), Mode::Reverse),
        0,
        ECHO_REQUEST_MAX,
    );
    assert_eq!(len, ECHO_REQUEST_MAX);
    assert_eq!(
        reply(METHOD_ECHO, Status::Ok, &text64, ECHO_REPLY_MAX),
        ECHO_REPLY_MAX
    );

    let widest = (
        u8::MAX,
        u16::MAX,
        u32::MAX,
        u64::MAX,
        i8::MIN,
        i16::MIN,
        i32::MIN,
        i64::MIN,
    );
    assert_eq!(
        request(METHOD_SUM, &widest, 0, SUM_REQUEST_MAX),
        SUM_REQUEST_MAX
    );
    let w = Widths {
        a: u8::MAX,
        b: u16::MAX,
        c: u32::MAX,
        d: u64::MAX,
        e: i8::MIN,
        f: i16::MIN,
        g: i32::MIN,
        h: i64::MIN,
    };
    assert_eq!(
        request(METHOD_INCREMENT, &(w,), 0, INCREMENT_REQUEST_MAX),
        INCREMENT_REQUEST_MAX
    );
    assert_eq!(
        reply(METHOD_INCREMENT, Status::Ok, &w, INCREMENT_REPLY_MAX),
        INCREMENT_REPLY_MAX
    );

    let far = Point {
        x: i32::MIN,
        y: i32::MIN,
    };
    let label: String<16> = String::try_from("0123456789abcdef").expect("16 bytes");
    let rect = Rect {
        origin: far,
        size: far,
        label,
    };
    assert_eq!(
        request(METHOD_AREA, &(rect,), 0, AREA_REQUEST_MAX),
        AREA_REQUEST_MAX
    );
    assert_eq!(
        reply(METHOD_AREA, Status::Ok, &u64::MAX, AREA_REPLY_MAX),
        AREA_REPLY_MAX
    );

    let data: Vec<u8, 256> = (0..=255).collect();
    assert_eq!(
        request(METHOD_CHECKSUM, &(data,), 0, CHECKSUM_REQUEST_MAX),
        CHECKSUM_REQUEST_MAX
    );
    let r = Region {
        offset: u32::MAX,
        len: u32::MAX,
    };
    assert_eq!(
        request(METHOD_READ, &(r,), 0, READ_REQUEST_MAX),
        READ_REQUEST_MAX
    );
    let b32: Vec<u8, 32> = (0..32).collect();
    assert_eq!(
        reply(METHOD_READ, Status::Ok, &b32, READ_REPLY_MAX),
        READ_REPLY_MAX
    );
    assert_eq!(
        request(METHOD_SIGNAL, &(2u8, u64::MAX), 1, SIGNAL_REQUEST_MAX),
        SIGNAL_REQUEST_MAX
    );
    assert_eq!(request(METHOD_POSITION, &(), 0, POSITION_REQUEST_MAX), 0);
}

/// Things the generated decoders must refuse.
#[test]
fn decoders_refuse_what_does_not_fit() {
    use echo::*;
    // Unknown method, and statuses without a method payload.
    assert!(__decode_request(14, &[]).is_err());
    assert!(__decode_reply(METHOD_ADD, Status::Malformed, &[]).is_err());
    // A string one byte over its bound, and invalid UTF-8.
    let mut over = vec![65u8];
    over.extend([b'a'; 65]);
    over.push(0);
    assert!(__decode_request(METHOD_ECHO, &over).is_err());
    assert!(__decode_request(METHOD_ECHO, &[2, 0xc3, 0x28, 0]).is_err());
    // Variant index 3 of a 3-variant enum; a bool that is 2.
    assert!(__decode_request(METHOD_NEXT_MODE, &[3]).is_err());
    assert!(__decode_request(METHOD_NEXT_MODE, &[2]).is_ok());
    assert!(__decode_request(METHOD_INVERT, &[2]).is_err());
    // Trailing bytes; a truncated varint.
    assert!(__decode_request(METHOD_POSITION, &[0]).is_err());
    assert!(__decode_request(METHOD_ADD, &[1, 0x80]).is_err());
    // A method without an error type has no error payload that decodes.
    for b in 0..=255u8 {
        assert!(__decode_reply(METHOD_ADD, Status::MethodError, &[b]).is_err());
    }
    assert!(__decode_reply(METHOD_ECHO, Status::MethodError, &[2]).is_ok());
}

/// Every generated decoder: each method's args, its result and its error.
fn decode_one(which: usize, bytes: &[u8]) -> bool {
    const METHODS: u16 = 14;
    let method = (which / 3) as u16 % METHODS;
    match which % 3 {
        0 => echo::__decode_request(method, bytes).is_ok(),
        1 => echo::__decode_reply(method, Status::Ok, bytes).is_ok(),
        _ => echo::__decode_reply(method, Status::MethodError, bytes).is_ok(),
    }
}

const DECODERS: usize = 14 * 3;

#[test]
fn random_bytes_never_panic() {
    let mut r = Rng(3);
    let mut buf = [0u8; PAYLOAD_CAPACITY];
    let mut accepted = 0usize;
    const RANDOM: usize = 1_200_000;
    for case in 0..RANDOM {
        // Mostly short inputs, which get further into the decoders.
        let len = match r.below(8) {
            0 => r.below(PAYLOAD_CAPACITY as u64 + 1),
            1..=3 => r.below(40),
            _ => r.below(12),
        } as usize;
        for b in &mut buf[..len] {
            // Small bytes make plausible lengths, tags and varint ends.
            *b = if r.below(2) == 0 {
                r.next() as u8
            } else {
                r.below(4) as u8
            };
        }
        accepted += usize::from(decode_one(case % DECODERS, &buf[..len]));
    }
    // Some random inputs are valid (a u8, a bool, ...): the decoders ran.
    assert!(accepted > RANDOM / 100, "only {accepted} accepted");
}

#[test]
fn mutated_messages_never_panic() {
    use echo::*;
    let mut r = Rng(4);
    // Valid encodings of every method's request, to mutate.
    let mut seeds: std::vec::Vec<(u16, std::vec::Vec<u8>)> = std::vec::Vec::new();
    let mut add = |method: u16, bytes: std::vec::Vec<u8>| seeds.push((method, bytes));
    for _ in 0..20 {
        add(METHOD_ECHO, encode(&(r.string::<64>(), r.mode())));
        add(METHOD_SUM, encode(&r.widths()));
        add(METHOD_INCREMENT, encode(&r.widths()));
        add(METHOD_MOVE_TO, encode(&(r.point(), true)));
        add(METHOD_AREA, encode(&r.rect()));
        add(METHOD_CHECKSUM, encode(&r.bytes::<256>()));
        add(METHOD_REVERSE, encode(&r.bytes::<64>()));
        add(METHOD_READ, encode(&r.region()));
        add(METHOD_SIGNAL, encode(&(0u8, r.int())));
        add(METHOD_TRANSFER, encode(&(0u8, 1u8, 2u8, 7u8)));
    }
    const MUTATED: usize = 300_000;
    for _ in 0..MUTATED {
        let (method, seed) = &seeds[r.below(seeds.len() as u64) as usize];
        let mut bytes = seed.clone();
        for _ in 0..=r.below(3) {
            match r.below(4) {
                0 if !bytes.is_empty() => {
                    let i = r.below(bytes.len() as u64) as usize;
                    bytes[i] ^= 1 << r.below(8);
                }
                1 if !bytes.is_empty() => {
                    bytes.truncate(r.below(bytes.len() as u64) as usize);
                }
                2 if bytes.len() < PAYLOAD_CAPACITY => bytes.push(r.next() as u8),
                _ if !bytes.is_empty() => {
                    let i = r.below(bytes.len() as u64) as usize;
                    bytes[i] = [0, 0x7f, 0x80, 0xff][r.below(4) as usize];
                }
                _ => {}
            }
        }
        let _ = echo::__decode_request(*method, &bytes);
        let _ = echo::__decode_reply(*method, Status::Ok, &bytes);
    }
}

/// The payload bytes the runtime encodes `value` as.
fn encode<T: Serialize>(value: &T) -> std::vec::Vec<u8> {
    let mut msg = Message::new(0, &[]);
    wire::encode_reply(Status::Ok, 0, Some(value), &mut msg).expect("encode");
    let h = wire::decode_reply_header(&msg).expect("header");
    let mut buf = [0; PAYLOAD_CAPACITY];
    wire::payload(&msg, h.len, &mut buf)
        .expect("payload")
        .to_vec()
}
