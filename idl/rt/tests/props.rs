//! Property tests of the wire format: headers round-trip, and encoding a
//! request or reply then decoding it gives back the value.

mod common;

use common::{Mode, Nested, Point, Shape};
use heapless::{String, Vec};
use proptest::prelude::*;
use septum_idl::wire::{self, ReplyHeader, RequestHeader};
use septum_idl::{IDL_LABEL, InterfaceId, PAYLOAD_CAPACITY, Region, Status};
use septum_user::ipc::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

const IFACE: InterfaceId = InterfaceId {
    name: "Test",
    ordinal: 0x0101,
    version: 3,
};

fn status() -> impl Strategy<Value = Status> {
    (0..Status::ALL.len()).prop_map(|i| Status::ALL[i])
}

fn string<const N: usize>() -> impl Strategy<Value = String<N>> {
    proptest::collection::vec(any::<char>(), 0..=N).prop_map(|chars| {
        let mut s = String::new();
        for c in chars {
            // Keep what fits: multi-byte characters may not.
            let _ = s.push(c);
        }
        s
    })
}

fn bytes<const N: usize>() -> impl Strategy<Value = Vec<u8, N>> {
    proptest::collection::vec(any::<u8>(), 0..=N)
        .prop_map(|v| Vec::from_slice(&v).expect("at most N bytes"))
}

fn region() -> impl Strategy<Value = Region> {
    (any::<u32>(), any::<u32>()).prop_map(|(offset, len)| Region { offset, len })
}

fn point() -> impl Strategy<Value = Point> {
    (any::<i32>(), any::<i32>()).prop_map(|(x, y)| Point { x, y })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Plain), Just(Mode::Shout), Just(Mode::Whisper)]
}

prop_compose! {
    fn nested()(
        at in point(), mode in mode(), flag in any::<bool>(), name in string::<16>(),
        data in bytes::<64>(), region in region(), big in any::<u64>(), small in any::<i8>(),
        half in any::<u16>(), signed in any::<i64>(),
    ) -> Nested {
        Nested { at, mode, flag, name, data, region, big, small, half, signed }
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        point().prop_map(Shape::Dot),
        (point(), point()).prop_map(|(from, to)| Shape::Line { from, to }),
        string::<8>().prop_map(Shape::Named),
        Just(Shape::Empty),
    ]
}

/// Request then reply round trip of `v` through a message.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug>(
    v: &T,
    method: u16,
    caps: usize,
    generation: u32,
) -> Result<(), TestCaseError> {
    let mut msg = Message::new(0, &[]);
    wire::encode_request(&IFACE, method, v, caps, &mut msg).expect("fits");
    prop_assert_eq!(msg.label, IDL_LABEL);
    prop_assert_eq!(msg.caps, caps);
    let h = wire::decode_request_header(&msg).expect("valid header");
    prop_assert_eq!(
        (h.ordinal, h.version, h.method),
        (IFACE.ordinal, IFACE.version, method)
    );
    let mut buf = [0u8; PAYLOAD_CAPACITY];
    let got: T =
        wire::decode(wire::payload(&msg, h.len, &mut buf).expect("payload")).expect("decodes");
    prop_assert_eq!(&got, v);

    wire::encode_reply(Status::Ok, generation, Some(v), &mut msg).expect("fits");
    prop_assert_eq!(msg.caps, 0);
    let mut seen = None;
    let got: T = septum_idl::interpret_reply::<T, ()>(&msg, &mut seen).expect("decodes");
    prop_assert_eq!(&got, v);
    prop_assert_eq!(seen, Some(generation));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn request_header_round_trips(ordinal: u16, version: u16, method: u16, len: u16) {
        let h = RequestHeader { ordinal, version, method, len };
        prop_assert_eq!(RequestHeader::from_word(h.encode()), h);
    }

    #[test]
    fn reply_header_round_trips(status in status(), generation: u32, len: u16) {
        let h = ReplyHeader { status, generation, len };
        prop_assert_eq!(ReplyHeader::from_word(h.encode()), Ok(h));
    }

    #[test]
    fn every_request_word_decodes_to_itself(word: u64) {
        prop_assert_eq!(RequestHeader::from_word(word).encode(), word);
    }

    #[test]
    fn a_reply_word_decodes_iff_its_status_is_known(word: u64) {
        match ReplyHeader::from_word(word) {
            Ok(h) => prop_assert_eq!(h.encode(), word),
            Err(e) => {
                prop_assert_eq!(e, septum_idl::WireError::BadHeader);
                prop_assert!(Status::from_code(word as u16).is_none());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn integers_round_trip(a: u8, b: u16, c: u32, d: u64, e: i8, f: i16, g: i32, h: i64, m: u16, caps in 0usize..=3, gen_: u32) {
        round_trip(&(a, b, c, d, e, f, g, h), m, caps, gen_)?;
        round_trip(&d, m, caps, gen_)?;
        round_trip(&h, m, caps, gen_)?;
    }

    #[test]
    fn bools_and_unit_round_trip(a: bool, b: bool, m: u16, gen_: u32) {
        round_trip(&(a, b), m, 0, gen_)?;
        round_trip(&(), m, 0, gen_)?;
    }

    #[test]
    fn strings_and_bytes_round_trip(s in string::<64>(), v in bytes::<128>(), m: u16, gen_: u32) {
        round_trip(&s, m, 0, gen_)?;
        round_trip(&v, m, 1, gen_)?;
        round_trip(&(s, v), m, 2, gen_)?;
    }

    #[test]
    fn structs_and_enums_round_trip(n in nested(), s in shape(), r in region(), m: u16, gen_: u32) {
        round_trip(&n, m, 0, gen_)?;
        round_trip(&s, m, 0, gen_)?;
        round_trip(&r, m, 3, gen_)?;
        round_trip(&(n, s, r), m, 0, gen_)?;
    }

    #[test]
    fn method_errors_round_trip(s in shape(), gen_: u32) {
        let mut msg = Message::new(0, &[]);
        wire::encode_reply(Status::MethodError, gen_, Some(&s), &mut msg).expect("fits");
        let mut seen = Some(gen_);
        prop_assert_eq!(
            septum_idl::interpret_reply::<u8, Shape>(&msg, &mut seen),
            Err(septum_idl::CallError::Method(s))
        );
    }
}

#[test]
fn payload_capacity_is_exact() {
    // A length prefix of 2 bytes plus 534 bytes fills the payload exactly.
    let full: Vec<u8, 600> = Vec::from_slice(&[0xa5; 534]).unwrap();
    let mut msg = Message::new(0, &[]);
    wire::encode_request(&IFACE, 0, &full, 0, &mut msg).unwrap();
    assert_eq!(msg.len, septum_abi::ipc::MAX_WORDS);
    let h = wire::decode_request_header(&msg).unwrap();
    assert_eq!(usize::from(h.len), PAYLOAD_CAPACITY);
    let mut buf = [0u8; PAYLOAD_CAPACITY];
    let back: Vec<u8, 600> = wire::decode(wire::payload(&msg, h.len, &mut buf).unwrap()).unwrap();
    assert_eq!(back, full);

    let over: Vec<u8, 600> = Vec::from_slice(&[0xa5; 535]).unwrap();
    assert_eq!(
        wire::encode_request(&IFACE, 0, &over, 0, &mut msg),
        Err(septum_idl::WireError::TooLarge)
    );
    assert_eq!(
        wire::encode_reply(Status::Ok, 0, Some(&over), &mut msg),
        Err(septum_idl::WireError::TooLarge)
    );
    assert_eq!(
        wire::encode_request(&IFACE, 0, &(), 4, &mut msg),
        Err(septum_idl::WireError::TooLarge)
    );
}

#[test]
fn encoding_is_zero_padded_and_exact() {
    let mut msg = Message::new(0, &[9; 68]);
    wire::encode_request(&IFACE, 2, &[1u8, 2, 3], 0, &mut msg).unwrap();
    // [u8; 3] is a tuple to postcard: three bytes, no length.
    assert_eq!(msg.len, 2);
    assert_eq!(msg.words[1], 0x0003_0201);
    assert!(msg.words[2..].iter().all(|&w| w == 0));
    assert_eq!(
        msg.words[0],
        0x0101 | 3 << 16 | 2 << 32 | 3 << 48,
        "ordinal | version << 16 | method << 32 | len << 48"
    );
    wire::encode_reply(
        Status::VersionMismatch,
        0xdead_beef,
        Some(&300u16),
        &mut msg,
    )
    .unwrap();
    assert_eq!(msg.words[0], 4 | 0xdead_beef << 16 | 2 << 48);
    assert_eq!(msg.words[1], 0x02ac);
}

#[test]
fn decode_rejects_trailing_bytes() {
    assert_eq!(wire::decode::<u8>(&[5]), Ok(5));
    assert_eq!(
        wire::decode::<u8>(&[5, 0]),
        Err(septum_idl::WireError::Malformed)
    );
    assert_eq!(
        wire::decode::<u8>(&[]),
        Err(septum_idl::WireError::Malformed)
    );
    assert_eq!(wire::decode::<()>(&[]), Ok(()));
}
